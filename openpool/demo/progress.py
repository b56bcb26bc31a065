"""Progress of a running pipeline, read from Kafka: files published, events processed, lag, payouts.

`PipelineWatch` reads; `progress_line` is the plain text line the demo prints every few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from openpool.consumer_progress import ConsumerProgress
from openpool.settings import Settings
from payments.wal import IN_FLIGHT_STATES, PayoutState
from stream_app.read_models import ReadModel


@dataclass(frozen=True, slots=True)
class PipelineProgress:
    elapsed_seconds: float
    files_published: int
    events_in_kafka: int
    events_processed: int
    jobs_attributed: int
    lag: int
    """Records of the events and attributed-jobs topics the stream app has not committed yet."""
    payouts_confirmed: int
    payouts_open: int


def progress_line(progress: PipelineProgress, files_total: int) -> str:
    minutes, seconds = divmod(int(progress.elapsed_seconds), 60)
    payouts = f"payouts {progress.payouts_confirmed} confirmed"
    if progress.payouts_open:
        payouts += f", {progress.payouts_open} in flight"
    return (
        f"  [{minutes:2d}:{seconds:02d}] files {progress.files_published}/{files_total} published · "
        f"events {progress.events_processed:,}/{progress.events_in_kafka:,} processed (lag {progress.lag:,}) · "
        f"jobs {progress.jobs_attributed:,} attributed · {payouts}"
    )


class PipelineWatch:
    """Tails the bridge's progress and the payout WAL, and reads the stream app's committed offsets."""

    def __init__(self, settings: Settings) -> None:
        self._topics = settings.topics
        bootstrap = settings.kafka_bootstrap_servers
        self._offsets = ConsumerProgress(bootstrap, settings.app_id)
        self._files = ReadModel(bootstrap, settings.topics.bridge_progress)
        self._payouts = ReadModel(bootstrap, settings.topics.payout_wal)

    async def __aenter__(self) -> PipelineWatch:
        await self._offsets.__aenter__()
        await self._files.start()
        await self._payouts.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._payouts.stop()
        await self._files.stop()
        await self._offsets.__aexit__(kind, error, trace)

    async def progress(self, elapsed_seconds: float) -> PipelineProgress:
        events, jobs = self._topics.events, self._topics.attributed_jobs
        offsets = await self._offsets.of([events, jobs])
        states = [record.get("state") for record in self._payouts.values.values() if isinstance(record, dict)]
        return PipelineProgress(
            elapsed_seconds=elapsed_seconds,
            files_published=len(self._files.values),
            events_in_kafka=offsets[events].end,
            events_processed=offsets[events].committed,
            jobs_attributed=offsets[jobs].end,
            lag=offsets[events].lag + offsets[jobs].lag,
            payouts_confirmed=sum(1 for state in states if state == PayoutState.CONFIRMED),
            payouts_open=sum(1 for state in states if state in IN_FLIGHT_STATES),
        )
