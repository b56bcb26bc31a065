"""What a running worker reports about itself: CPU time used (from /proc) and its per-record processing time
(the `openpool_process_duration_seconds` histogram on its metrics endpoint)."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

PROCESS_DURATION = "openpool_process_duration_seconds"


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux), or None where /proc is not there."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the command name: state is field 3, utime and stime are fields 14 and 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seconds_per_record(metrics_text: str) -> dict[str, float]:
    """Mean wall time an agent spent per record, by stage, from the histogram's sum and count."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != PROCESS_DURATION:
            continue
        for sample in family.samples:
            stage = sample.labels.get("stage", "?")
            if sample.name.endswith("_sum"):
                sums[stage] = sample.value
            elif sample.name.endswith("_count"):
                counts[stage] = sample.value
    return {stage: sums[stage] / counts[stage] for stage in sums if counts.get(stage)}


async def scrape(url: str) -> str | None:
    """The metrics page, or None if the endpoint does not answer (the figure then goes without it)."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session, session.get(url) as page:
            return await page.text() if page.status == 200 else None
    except (aiohttp.ClientError, TimeoutError):
        return None
