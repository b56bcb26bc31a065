"""The payout WAL on its Kafka topic: a fenced, transactional writer and a read-committed reader.

Exactly one payer may write at a time. The writer is a transactional producer whose id is derived from
the app id, so every payer of one pool shares it: starting a writer makes the broker bump the id's epoch,
which aborts whatever the previous holder had open and makes each of its later writes fail with
`PayerFenced`. Since the payer broadcasts nothing the WAL does not already hold, a fenced payer can at
most re-send a transaction it had recorded — identical bytes, one nonce, mined at most once.

The order inside `open_payout_wal` carries the guarantee: fence first, read second. Everything a previous
holder committed is then in what is read, and nothing it writes afterwards can be committed.

Each `append` is its own small transaction, committed before it returns (acks=all, idempotent), so the
record is durable and visible to read-committed readers before the step it describes is taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import InvalidProducerEpoch, KafkaError, ProducerFenced

from openpool.settings import Settings
from openpool.topics import ensure_topics, owned_topics
from payments.wal import WalError, WalRecord, check_successor, from_bytes, record_key, to_bytes

log = logging.getLogger(__name__)

WAL_PARTITION = 0


class PayerFenced(Exception):
    """Another payer with the same transactional id took over the WAL; this one must stop sending."""


class WalUnavailable(Exception):
    """The broker did not acknowledge a WAL write or read in time; the write may or may not be durable."""


class WalUnreadable(WalError):
    """A WAL record that cannot be decoded or does not follow its predecessor: the payer halts, never skips it."""


def payer_transactional_id(settings: Settings) -> str:
    return f"{settings.app_id}-payer"


async def ensure_payer_topics(settings: Settings) -> None:
    """The WAL and the earnings read model the payer reads; created if missing, as every owned topic is."""
    names = {settings.topics.payout_wal, settings.topics.earnings}
    try:
        await ensure_topics(settings, [spec for spec in owned_topics(settings) if spec.name in names])
    except KafkaError as error:
        raise WalUnavailable(f"the WAL topic could not be checked: the broker did not answer ({error})") from None


async def read_wal(bootstrap_servers: str, topic: str, *, timeout_seconds: float = 60.0) -> tuple[WalRecord, ...]:
    """Every committed record from the beginning to the last stable offset, in log order.

    Transactions a fenced or crashed payer left open or aborted are not read. A record that does not
    decode, a tombstone (nothing may delete a payout's history) or one that does not follow the earlier
    record of its payout raises `WalUnreadable`.
    """
    tp = TopicPartition(topic, WAL_PARTITION)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        return await asyncio.wait_for(_read_all(consumer, tp), timeout_seconds)
    except TimeoutError:
        raise WalUnavailable(f"{topic}: could not read the WAL within {timeout_seconds} s") from None
    finally:
        await consumer.stop()


async def _read_all(consumer: AIOKafkaConsumer, tp: TopicPartition) -> tuple[WalRecord, ...]:
    consumer.assign([tp])
    await consumer.seek_to_beginning(tp)
    end = (await consumer.end_offsets([tp]))[tp]
    records: list[WalRecord] = []
    latest: dict[str, WalRecord] = {}
    while await consumer.position(tp) < end:
        batches = await consumer.getmany(tp, timeout_ms=500)
        for message in batches.get(tp, []):
            if message.offset >= end:
                break
            record = _decode(tp, message.offset, message.key, message.value)
            previous = latest.get(record.payout_id)
            if previous is not None:
                try:
                    check_successor(previous, record)
                except WalError as error:
                    raise WalUnreadable(f"{tp.topic}[{tp.partition}]@{message.offset}: {error}") from None
            latest[record.payout_id] = record
            records.append(record)
    return tuple(records)


def _decode(tp: TopicPartition, offset: int, key: bytes | None, value: bytes | None) -> WalRecord:
    where = f"{tp.topic}[{tp.partition}]@{offset}"
    if value is None:
        raise WalUnreadable(f"{where}: a tombstone; payout history must never be deleted")
    try:
        record = from_bytes(value)
    except WalError as error:
        raise WalUnreadable(f"{where}: {error}") from None
    if key != record_key(record):
        raise WalUnreadable(f"{where}: key does not match payout {record.payout_id}")
    return record


class KafkaWal:
    """The WAL writer. Create it with `open_payout_wal`, which fences older writers before reading."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, records: tuple[WalRecord, ...], timeout: float) -> None:
        self._producer = producer
        self._topic = topic
        self._records = records
        self._latest: dict[str, WalRecord] = {}
        for record in records:
            self._latest[record.payout_id] = record
        self._timeout = timeout
        self._fenced = False

    @property
    def records(self) -> tuple[WalRecord, ...]:
        """What the WAL held when this writer took over, plus what it appended since."""
        return self._records

    async def append(self, record: WalRecord) -> None:
        if self._fenced:
            raise PayerFenced(f"{self._topic}: this payer was fenced; it writes nothing more")
        previous = self._latest.get(record.payout_id)
        if previous is not None:
            check_successor(previous, record)
        try:
            await asyncio.wait_for(self._commit(record), self._timeout)
        except (ProducerFenced, InvalidProducerEpoch):
            self._fenced = True
            raise PayerFenced(
                f"{self._topic}: another payer took over the WAL (transactional id fenced); "
                f"stopped before payout {record.payout_id} went further"
            ) from None
        except (TimeoutError, KafkaError) as error:
            raise WalUnavailable(
                f"{self._topic}: write of payout {record.payout_id} ({record.state.value}) not acknowledged "
                f"({type(error).__name__}); it may or may not be durable"
            ) from None
        self._latest[record.payout_id] = record
        self._records = (*self._records, record)

    async def _commit(self, record: WalRecord) -> None:
        async with self._producer.transaction():
            await self._producer.send_and_wait(
                self._topic, value=to_bytes(record), key=record_key(record), partition=WAL_PARTITION
            )


@asynccontextmanager
async def open_payout_wal(settings: Settings, *, timeout_seconds: float = 30.0) -> AsyncIterator[KafkaWal]:
    """Take the WAL over: fence every other payer of this app, then read what the WAL holds."""
    await ensure_payer_topics(settings)
    _quiet_fencing_noise()
    topic = settings.topics.payout_wal
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        transactional_id=payer_transactional_id(settings),
        enable_idempotence=True,
        acks="all",
        request_timeout_ms=int(timeout_seconds * 1000),
    )
    await producer.start()
    try:
        await asyncio.wait_for(_fence_others(producer), timeout_seconds)
        records = await read_wal(settings.kafka_bootstrap_servers, topic, timeout_seconds=timeout_seconds)
        log.info("payout WAL opened", extra={"topic": topic, "records": len(records)})
        yield KafkaWal(producer, topic, records, timeout_seconds)
    finally:
        await _stop(producer)


async def _fence_others(producer: AIOKafkaProducer) -> None:
    # The producer id (and with it the new epoch that fences the previous holder) is obtained lazily;
    # beginning a transaction waits for it. The empty transaction writes nothing.
    try:
        await producer.begin_transaction()
        await producer.commit_transaction()
    except (ProducerFenced, InvalidProducerEpoch):
        raise PayerFenced("another payer took over the WAL while this one was starting") from None


async def _stop(producer: AIOKafkaProducer) -> None:
    # A fenced producer's background sender has already failed; stopping must not hide the real error.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(producer.stop(), 10)


class _UnretrievedFencing(logging.Filter):
    """Drops asyncio's "exception was never retrieved" reports of aiokafka's internal futures after fencing.

    The fenced producer fails its internal batch futures, which nobody awaits; their tracebacks would only
    bury the one `PayerFenced` error that says what happened.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, ProducerFenced | InvalidProducerEpoch)


def _quiet_fencing_noise() -> None:
    asyncio_log = logging.getLogger("asyncio")
    if not any(isinstance(f, _UnretrievedFencing) for f in asyncio_log.filters):
        asyncio_log.addFilter(_UnretrievedFencing())


async def load_wal(settings: Settings) -> tuple[WalRecord, ...]:
    """What the WAL holds now, read without fencing anyone: for plans, status and exports, never for paying."""
    await ensure_payer_topics(settings)
    return await read_wal(settings.kafka_bootstrap_servers, settings.topics.payout_wal)
