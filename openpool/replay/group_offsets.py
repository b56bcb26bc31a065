"""A consumer group's offsets on one topic: read them, and commit new ones while the group has no member.

aiokafka 0.14's admin client has no "alter consumer group offsets"; a consumer that uses the group id without
joining the group (manual assignment) commits them instead. The broker accepts such a commit only from a
group without live members, which backs up the refusal checked before it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from openpool.replay.offset_reset import GroupDescription, PartitionOffsets, PartitionReset, refusal
from openpool.topics import partitions_of

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TopicMissingError(RuntimeError):
    pass


class GroupBusyError(RuntimeError):
    """The group has live members: its offsets are not changed."""


async def describe_group(bootstrap_servers: str, group: str) -> GroupDescription:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        responses = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    for response in responses:
        for described in response.groups:
            # (error_code, group, state, protocol_type, protocol, members, ...) in every API version.
            if described[1] == group:
                members = [str(member[1]) for member in described[5]]
                return GroupDescription(group=group, state=str(described[2]), members=members)
    return GroupDescription(group=group, state="Dead", members=())


async def partition_offsets(
    bootstrap_servers: str, group: str, topic: str, *, at: datetime | None = None
) -> list[PartitionOffsets]:
    """Committed, earliest and end offsets of every partition of `topic`, and with `at` the offset for that time."""
    partitions = (await partitions_of(bootstrap_servers, [topic])).get(topic)
    if not partitions:
        raise TopicMissingError(f"topic {topic} does not exist")
    tps = [TopicPartition(topic, partition) for partition in partitions]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        try:
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        except GroupCoordinatorNotAvailableError:  # the group never committed anything
            committed = {}
        earliest = await consumer.beginning_offsets(tps)
        latest = await consumer.end_offsets(tps)
        at_time: dict[TopicPartition, int | None] = dict.fromkeys(tps)
        if at is not None:
            stamp = (at - _EPOCH) // timedelta(milliseconds=1)
            found = await consumer.offsets_for_times(dict.fromkeys(tps, stamp))
            at_time = {tp: None if hit is None else int(hit.offset) for tp, hit in found.items()}
    finally:
        await consumer.stop()
        await admin.close()
    rows = []
    for tp in tps:
        done = committed.get(tp)
        rows.append(
            PartitionOffsets(
                partition=tp.partition,
                committed=done.offset if done is not None and done.offset >= 0 else None,
                earliest=earliest[tp],
                latest=latest[tp],
                at_time=at_time.get(tp),
            )
        )
    return rows


async def commit_plan(bootstrap_servers: str, group: str, topic: str, plan: Sequence[PartitionReset]) -> None:
    """Commit the plan's new offsets for `group`; refuses (GroupBusyError) while the group has live members."""
    reason = refusal(await describe_group(bootstrap_servers, group))
    if reason is not None:
        raise GroupBusyError(reason)
    offsets = {TopicPartition(topic, row.partition): row.new for row in plan if row.changes and row.new is not None}
    if not offsets:
        return
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()
    log.info(
        "consumer group offsets reset",
        extra={"consumer_group": group, "topic": topic, "offsets": {tp.partition: o for tp, o in offsets.items()}},
    )
