"""The benchmark's figures, made from what each measurement returned (pure)."""

from __future__ import annotations

from openpool.bench.latency import LatencyRun
from openpool.bench.payout_rate import PayoutRate
from openpool.bench.recovery import RecoveryRun
from openpool.bench.results import Figure, Target, finite
from openpool.bench.throughput import Rate, StreamRate

TARGET_LOAD = 5_000.0
HALF = Target("≥ 50 % of the baseline", at_least=0.5)


def stream_figure(stream: StreamRate, consumer: Rate) -> Figure:
    return Figure(
        key="stream_app_throughput",
        title="Stream app throughput (openpool worker)",
        unit="events/s",
        value=stream.events.per_second,
        baseline_title="plain aiokafka consumer, read + json.loads",
        baseline=consumer.per_second,
        target=Target("≥ 5,000 events/s and ≥ 0.05 of the baseline", at_least=0.05, value_at_least=5_000),
        method=(
            "One `openpool worker` (fresh data dir) on a backlog of its own that the bridge published; events "
            "committed by the consumer group from `Worker ready` until both input topics are drained or the window "
            "ends. Baseline: an AIOKafkaConsumer assigned every partition, reading the same topic from the start "
            "and JSON-decoding each value."
        ),
        details={
            "events_committed": stream.events.records,
            "seconds": round(stream.events.seconds, 2),
            "attributed_jobs_committed": stream.jobs_committed,
            "lag_at_end": stream.lag_at_end,
            "drained": stream.drained,
            "baseline_events": consumer.records,
            "baseline_seconds": round(consumer.seconds, 3),
            "worker_cpu_cores": None if stream.cpu_cores is None else round(stream.cpu_cores, 2),
            "cpu_us_per_event": _rounded(cpu_per_event(stream)),
            "records_per_batch": {stage: round(size) for stage, size in stream.records_per_batch.items()},
        },
    )


def cpu_per_event(stream: StreamRate) -> float | None:
    """µs of the worker's CPU per event over the measured window."""
    if stream.cpu_cores is None or stream.events.records == 0:
        return None
    return 1e6 * stream.cpu_cores * stream.events.seconds / stream.events.records


def stream_cpu_figure(stream: StreamRate) -> Figure:
    return Figure(
        key="stream_app_cpu_per_event",
        title="Stream app CPU per event (openpool worker)",
        unit="µs",
        value=cpu_per_event(stream) or 0.0,
        baseline_title="none (the plain consumer's CPU is not measured apart from the benchmark's own)",
        baseline=None,
        target=Target("≤ 200 µs", value_at_most=200),
        method=(
            "CPU seconds the worker process used (user + system, from /proc) during the stream measurement's "
            "window, per event committed in it."
        ),
        details={"cpu_cores": None if stream.cpu_cores is None else round(stream.cpu_cores, 2)},
    )


def bridge_figure(bridge: Rate, producer: Rate, files: int) -> Figure:
    return Figure(
        key="bridge_throughput",
        title="Bridge throughput, S3 to Kafka (run_bridge --once)",
        unit="events/s",
        value=bridge.per_second,
        baseline_title="plain aiokafka producer, same records and producer settings",
        baseline=producer.per_second,
        target=HALF,
        method=(
            f"`run_bridge(once=True)` in the benchmark's process over {files} generated files in a fresh bucket "
            "(list, fetch 4 ahead, parse, validate, send with acks=all and idempotence, mark progress, archive). "
            "Baseline: an AIOKafkaProducer with the bridge's settings (acks=all, idempotence, linger 5 ms, "
            "256 KiB batches) sending the records the bridge wrote (keys, values, headers) to a topic with the "
            "same partitions."
        ),
        details={
            "events": bridge.records,
            "seconds": round(bridge.seconds, 2),
            "bridge_cpu_cores": None if bridge.cpu_cores is None else round(bridge.cpu_cores, 2),
            "baseline_seconds": round(producer.seconds, 3),
        },
    )


def latency_figure(run: LatencyRun, *, at_target: bool) -> Figure:
    rate = run.plan.events_per_second
    return Figure(
        key="end_to_end_latency_p99" + ("" if at_target else "_sustainable"),
        title=f"End-to-end latency p99 at {rate:,.0f} events/s offered"
        + ("" if at_target else " (highest sustainable rate tried)" if run.sustained else " (not sustained)"),
        unit="s",
        value=run.end_to_end.p99,
        baseline_title="upload to event in Kafka (the bridge's part), p99",
        baseline=run.bridge_only.p99,
        target=Target("p99 < 2 s at 5,000 events/s", below=2.0, absolute=True)
        if at_target
        else Target("reported (the target load was not sustained)"),
        ratio_is_inverse=True,
        method=(
            f"`openpool run` (bridge polling every 1 s + stream app) on a fresh sandbox; a clean generated pool "
            f"flushing one file per partition per second, uploaded on schedule for {run.plan.seconds:.0f} s at "
            f"{rate:,.0f} events/s. Each file carries a probe job paid to an address of its own; latency = its S3 "
            "PUT returning until the earnings read model (the topic the API serves from) holds that address. A "
            f"probe not seen {run.plan.drain_seconds:.0f} s after the last upload counts as infinitely late; a "
            "load is sustained if every probe arrived and the last quarter's median latency is less than 1 s above "
            "the first quarter's. "
            "Baseline: the same probes' arrival on the events topic. Ratio = baseline / end to end."
        ),
        details={
            "offered_events_per_second": round(run.offered_events_per_second, 1),
            "events": run.events,
            "files": run.files,
            "end_to_end": run.end_to_end.to_json(),
            "bridge_only": run.bridge_only.to_json(),
            "latency_growth_seconds": finite(run.growth_seconds),
            "lag_at_end": run.lag_at_end,
            "sustained": run.sustained,
        },
    )


def recovery_figure(run: RecoveryRun) -> Figure:
    return Figure(
        key="table_recovery",
        title="Table recovery from the changelogs into an empty data dir",
        unit="records/s",
        value=run.records_per_second,
        baseline_title="plain aiokafka consumer reading the same changelog records",
        baseline=run.plain_read.per_second,
        target=Target("≥ 0.25 of the baseline", at_least=0.25),
        method=(
            f"{run.records:,} records in the five table changelogs (copies of the records the stream benchmark "
            "wrote, each under a key of its own, in its original partition). `openpool worker` with an empty data "
            "dir; records / seconds of its restore, from its log: the bulk restore before Faust starts (the seconds "
            "its `tables restored from their changelogs` line reports) plus Faust's first partition assignment to "
            "`Worker ready`, leaving out the group join between them. Start to ready is given too, and the same "
            "worker's start to ready on an app with empty changelogs (interpreter start, group join, assignment). "
            "Baseline: a consumer reading those records without decoding them."
        ),
        details={
            "records": run.records,
            "restore_seconds": round(run.restore_seconds, 2),
            "start_to_ready_seconds": round(run.start_seconds, 2),
            "empty_app_start_to_ready_seconds": round(run.empty_start_seconds, 2),
            "worker_cpu_cores_while_restoring": None if run.cpu_cores is None else round(run.cpu_cores, 2),
            "baseline_seconds": round(run.plain_read.seconds, 3),
        },
    )


def payout_figure(payer: PayoutRate, plain: PayoutRate) -> Figure:
    return Figure(
        key="payouts_per_minute",
        title="Payouts per minute on anvil (one payout round)",
        unit="payouts/min",
        value=payer.per_minute,
        baseline_title="plain signed ETH transfers, one after the other",
        baseline=plain.per_minute,
        target=Target("reported (no target)"),
        method=(
            f"`payout_round` over {payer.payouts} addresses above the threshold on a fresh WAL: fence the WAL, "
            "reconcile, plan, and per payout check balance/gas/nonce, write intent, signed, broadcast and mined "
            "records, then write the audit objects. anvil mines each transaction at once. Baseline: the same "
            "key and RPC client signing, sending and polling for each receipt, nothing recorded."
        ),
        details={
            "payouts": payer.payouts,
            "seconds": round(payer.seconds, 2),
            "baseline_transfers": plain.payouts,
            "baseline_seconds": round(plain.seconds, 2),
        },
    )


def cpu_fact(what: str, cpu_cores: float | None, records: int, seconds: float) -> tuple[str, ...]:
    if cpu_cores is None or records == 0 or seconds <= 0:
        return ()
    return (
        f"While measured, the {what} used {cpu_cores:.2f} of a core (CPU seconds per wall second): "
        f"{1e6 * cpu_cores * seconds / records:,.0f} µs of CPU per record, against "
        f"{1e6 * seconds / records:,.0f} µs of wall time per record.",
    )


def stream_facts(stream: StreamRate) -> tuple[str, ...]:
    """What the worker's CPU time and its agents' own timing say about where the time goes."""
    rate = stream.events.per_second
    facts = []
    if stream.cpu_cores is not None and rate > 0:
        facts.append(
            f"During the measured window the worker used {stream.cpu_cores:.2f} of a core (CPU seconds per wall "
            f"second) for {rate:,.0f} events/s: {1000 * stream.cpu_cores / rate:.2f} ms of CPU per event, against "
            f"{1000 / rate:.2f} ms of wall time per event."
        )
    if stream.records_per_batch:
        sizes = ", ".join(f"{stage} {size:,.0f}" for stage, size in sorted(stream.records_per_batch.items()))
        facts.append(
            f"Records per batch the agents took (`openpool_batch_records`): {sizes}; each batch ends with one "
            "checkpoint (docs/design.md)."
        )
    if stream.cpu_cores is not None and stream.cpu_cores < 0.8:
        facts.append(
            f"The worker was not CPU-bound: for {1 - stream.cpu_cores:.0%} of the time no Python ran, i.e. the "
            "agents were awaiting I/O — broker acknowledgements of what each record produces (forwarded jobs, "
            "changelog and read-model records, dead letters) and fetches. The sampled profile below covers only "
            "the CPU part."
        )
    return tuple(facts)


def _rounded(value: float | None) -> int | None:
    return None if value is None else round(value)
