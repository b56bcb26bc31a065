"""The machine a benchmark ran on: CPU, cores, memory, load, and the versions that matter."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from openpool.stack.kafka import kafka_version


def describe_machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "load_average_at_start": [round(value, 2) for value in load],
        "os": platform.platform(),
        "python": platform.python_version(),
        "kafka": kafka_version(),
        "aiokafka": _version("aiokafka"),
        "faust_streaming": _version("faust-streaming"),
        "rocksdict": _version("rocksdict"),
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
