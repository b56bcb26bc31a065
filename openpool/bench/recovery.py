"""Table recovery: a worker with an empty data dir restoring N changelog records, timed by its own log (its bulk
restore before Faust starts, plus Faust's assignment to "Worker ready" for what is left), against a plain
consumer reading the same records. Start-to-ready is kept too, next to the same worker's start on an app with
empty changelogs; the group join between the two restores is in start-to-ready only.

The changelogs are filled with copies of real table records (those the stream benchmark wrote), each under a
key of its own and in its original partition, so that N is large enough to time whatever the data set was.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer

from openpool.bench.process_stats import cpu_seconds
from openpool.bench.profiling import Sampler, py_spy
from openpool.bench.results import ProfileSummary
from openpool.bench.throughput import Rate, plain_consumer_rate, read_all
from openpool.pipeline_process import PipelineProcess, line_time
from openpool.sandbox import Sandbox
from openpool.settings import Settings
from openpool.topics import STAGE_ONE_TABLES, STAGE_TWO_TABLES, changelog_topic, ensure_topics, owned_topics

BULK_STARTS = "restoring tables from their changelogs"
BULK_ENDS = "tables restored from their changelogs"
FAUST_ASSIGNED = "Executing _on_partitions_assigned"
RECOVERY_STAGE = "table recovery (`openpool worker` restoring its tables)"
READY_WITHIN_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class RecoveryRun:
    records: int
    restore_seconds: float
    """The bulk restore (the seconds its last line reports) plus Faust's first partition assignment to "Worker
    ready", in the worker's log."""
    start_seconds: float
    """Process start to "Worker ready"."""
    empty_start_seconds: float
    """The same on an app whose changelogs are empty: interpreter start, group join, assignment."""
    plain_read: Rate
    profile: ProfileSummary | None
    cpu_cores: float | None
    """The worker's CPU seconds per wall second while it restored."""

    @property
    def records_per_second(self) -> float:
        return self.records / self.restore_seconds if self.restore_seconds > 0 else float("inf")


@dataclass(frozen=True, slots=True)
class _Startup:
    seconds: float
    restore_seconds: float | None
    profile: ProfileSummary | None
    cpu_cores: float | None


def changelogs(settings: Settings) -> list[str]:
    return [changelog_topic(settings.app_id, table) for table in (*STAGE_ONE_TABLES, *STAGE_TWO_TABLES)]


async def fill_changelogs(source: Settings, target: Settings, records: int) -> int:
    """`records` changelog records for `target`, copied round-robin from `source`'s changelogs."""
    await ensure_topics(target, owned_topics(target))
    originals = [
        (target_topic, record)
        for source_topic, target_topic in zip(changelogs(source), changelogs(target), strict=True)
        for record in await read_all(source.kafka_bootstrap_servers, source_topic)
        if record.key is not None and record.value is not None
    ]
    if not originals:
        raise RuntimeError(f"the changelogs of {source.app_id} are empty: nothing to copy")
    producer = AIOKafkaProducer(bootstrap_servers=target.kafka_bootstrap_servers, acks="all", linger_ms=20)
    await producer.start()
    try:
        acks = []
        for number in range(records):
            topic, record = originals[number % len(originals)]
            key = record.key if number < len(originals) else _copy_key(record.key, number // len(originals))
            acks.append(await producer.send(topic, record.value, key=key, partition=record.partition))
        await asyncio.gather(*acks)
    finally:
        await producer.stop()
    return records


def _copy_key(key: bytes, copy: int) -> bytes:
    """A distinct key of the same form: Faust serialises table keys as JSON strings."""
    try:
        text = json.loads(key)
    except ValueError:
        return key + f"~{copy}".encode()
    return json.dumps(f"{text}~{copy}").encode()


async def _start(sandbox: Sandbox, name: str, *, restores: bool, profile: Path | None = None) -> _Startup:
    """A worker on `sandbox` from process start to "Worker ready". One that `restores` has its CPU use during the
    restore measured and, with `profile`, is sampled by py-spy meanwhile."""
    process = await PipelineProcess.start(["worker"], sandbox.env(), sandbox.log_file(name))
    sampler = None
    cpu_began: tuple[float, float | None] | None = None
    try:
        tool = py_spy() if profile is not None else None
        if restores:
            await process.wait_for_line(BULK_STARTS, READY_WITHIN_SECONDS)
            cpu_began = time.time(), cpu_seconds(process.pid)
            if tool is not None and profile is not None:
                sampler = await Sampler.attach(tool, process.pid, profile)
        ready = await process.wait_for_line("Worker ready", READY_WITHIN_SECONDS)
        cpu_ended = cpu_seconds(process.pid)
        summary = await sampler.stop(RECOVERY_STAGE) if sampler is not None else None
        restore = _restore_seconds(process.lines(), ready.at)
    finally:
        await process.stop()
    cpu = None
    if cpu_began is not None and cpu_began[1] is not None and cpu_ended is not None:
        cpu = (cpu_ended - cpu_began[1]) / max(time.time() - cpu_began[0], 1e-9)
    return _Startup(ready.at - process.started_at, restore, summary, cpu)


def _restore_seconds(lines: list[str], ready_at: float) -> float | None:
    """The bulk restore's own duration plus Faust's part, from its first partition assignment to "Worker ready"
    (it logs "Restoring state" only when records are left to read); the group join between them is left out.
    None if a line is missing."""
    bulk = next((json.loads(line) for line in lines if BULK_ENDS in line), None)
    assigned = next((line_time(line) for line in lines if FAUST_ASSIGNED in line), None)
    if bulk is None or assigned is None:
        return None
    return float(bulk["seconds"]) + (ready_at - assigned)


async def measure_recovery(
    filled: Sandbox, empty: Sandbox, records: int, source: Settings, *, profile: bool
) -> RecoveryRun:
    count = await fill_changelogs(source, filled.settings(), records)
    plain = await plain_consumer_rate(
        filled.settings().kafka_bootstrap_servers, changelogs(filled.settings()), decode_json=False
    )
    await ensure_topics(empty.settings(), owned_topics(empty.settings()))
    empty_start = await _start(empty, "worker-empty", restores=False)
    full = await _start(filled, "worker-recovering", restores=True)
    if full.restore_seconds is None:
        raise RuntimeError(f"the worker did not log both restores' lines; see {filled.log_file('worker-recovering')}")
    summary = None
    if profile:
        # Sampling slows the process it samples, so the profile comes from a second restore, into a data dir of
        # its own, and the figure from the run above.
        profiled = filled.with_settings(OPENPOOL_DATA_DIR=str(filled.folder / "data-profiled"))
        samples = filled.folder / "recovery.py-spy.txt"
        summary = (await _start(profiled, "worker-recovering-profiled", restores=True, profile=samples)).profile
    return RecoveryRun(count, full.restore_seconds, full.seconds, empty_start.seconds, plain, summary, full.cpu_cores)
