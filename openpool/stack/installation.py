"""Installing the stack's tools once, and finding them again from any later call.

The Kafka jars live in the user's cache (shared by every checkout), anvil in the project's tools folder;
a small manifest in the tools folder records both, so `up` and the test fixtures need no other hint.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from openpool.stack.anvil import ANVIL_VERSION, install_anvil
from openpool.stack.errors import StackNotInstalledError
from openpool.stack.kafka import KafkaInstallation, install_kafka, kafka_version

logger = logging.getLogger("openpool.stack")

MANIFEST_NAME = "stack-tools.json"


@dataclass(frozen=True)
class StackTools:
    kafka: KafkaInstallation
    anvil_binary: Path


def install(tools_dir: Path, cache_dir: Path) -> StackTools:
    """Install what is missing (idempotent: a complete install only checks a few files)."""
    tools_dir = tools_dir.expanduser().resolve()
    cache_dir = cache_dir.expanduser().resolve()

    started = time.monotonic()
    kafka = install_kafka(cache_dir)
    seconds = time.monotonic() - started
    logger.info(
        "kafka %s jars ready in %s (%.2f s)",
        kafka.version,
        kafka.libs,
        seconds,
        extra={"tool": "kafka", "version": kafka.version, "seconds": seconds},
    )

    started = time.monotonic()
    anvil_binary = install_anvil(tools_dir)
    seconds = time.monotonic() - started
    logger.info(
        "anvil %s ready at %s (%.2f s)",
        ANVIL_VERSION,
        anvil_binary,
        seconds,
        extra={"tool": "anvil", "version": ANVIL_VERSION, "seconds": seconds},
    )

    tools = StackTools(kafka=kafka, anvil_binary=anvil_binary)
    manifest = {
        "kafka_version": kafka.version,
        "kafka_libs": str(kafka.libs),
        "anvil_version": ANVIL_VERSION,
        "anvil": str(anvil_binary),
    }
    tools_dir.mkdir(parents=True, exist_ok=True)
    (tools_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return tools


def installed(tools_dir: Path) -> StackTools:
    """The tools `install` recorded for this folder; raises StackNotInstalledError if any is gone."""
    manifest_file = tools_dir.expanduser().resolve() / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        tools = StackTools(
            kafka=KafkaInstallation(version=str(manifest["kafka_version"]), libs=Path(manifest["kafka_libs"])),
            anvil_binary=Path(manifest["anvil"]),
        )
        anvil_version = str(manifest["anvil_version"])
    except (OSError, ValueError, KeyError, TypeError):
        raise StackNotInstalledError(
            f"the local stack's tools are not installed ({manifest_file}): run `openpool stack install`"
        ) from None
    current = tools.kafka.version == kafka_version() and anvil_version == ANVIL_VERSION
    if not current or not tools.kafka.is_complete() or not tools.anvil_binary.is_file():
        raise StackNotInstalledError(
            "the local stack's tools are incomplete or out of date: run `openpool stack install`"
        )
    return tools
