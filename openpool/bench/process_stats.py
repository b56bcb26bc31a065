"""What a running process reports about itself: CPU time and resident memory (from /proc) and, for a worker,
its batch sizes and its time lag (the `openpool_batch_records` histogram and the
`openpool_consumer_lag_seconds` gauge on its metrics endpoint)."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

BATCH_RECORDS = "openpool_batch_records"
CONSUMER_LAG_SECONDS = "openpool_consumer_lag_seconds"


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux), or None where /proc is not there."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the command name: state is field 3, utime and stime are fields 14 and 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def resident_mib(pid: int) -> tuple[float, float] | None:
    """Resident memory of a process now and at its peak so far (VmRSS, VmHWM), in MiB; None without /proc."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    kib = {line.split(":")[0]: int(line.split()[1]) for line in lines if line.startswith(("VmRSS:", "VmHWM:"))}
    if "VmRSS" not in kib or "VmHWM" not in kib:
        return None
    return kib["VmRSS"] / 1024, kib["VmHWM"] / 1024


def records_per_batch(metrics_text: str) -> dict[str, float]:
    """Mean records per batch an agent took, by stage, from the batch-size histogram's sum and count."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != BATCH_RECORDS:
            continue
        for sample in family.samples:
            stage = sample.labels.get("stage", "?")
            if sample.name.endswith("_sum"):
                sums[stage] = sample.value
            elif sample.name.endswith("_count"):
                counts[stage] = sample.value
    return {stage: sums[stage] / counts[stage] for stage in sums if counts.get(stage)}


def consumer_lag_seconds(metrics_text: str) -> float | None:
    """The largest time lag over the partitions a worker consumes; None before it reports any partition."""
    lags = [
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        if family.name == CONSUMER_LAG_SECONDS
        for sample in family.samples
    ]
    return max(lags, default=None)


async def scrape(url: str) -> str | None:
    """The metrics page, or None if the endpoint does not answer (the figure then goes without it)."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session, session.get(url) as page:
            return await page.text() if page.status == 200 else None
    except (aiohttp.ClientError, TimeoutError):
        return None
