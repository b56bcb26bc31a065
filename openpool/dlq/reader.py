"""Reading the whole dead-letter topic, from its beginning to the end offsets it had when reading started."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from openpool.dlq.stored import StoredLetter, decode_letter
from openpool.settings import Settings
from openpool.topic_reader import read_to_end


async def read_dead_letters(settings: Settings) -> list[StoredLetter]:
    """Every record in partition and offset order; none when the topic does not exist yet."""
    bootstrap, topic = settings.kafka_bootstrap_servers, settings.topics.dead_letters
    if not await topic_exists(bootstrap, topic):
        return []
    letters = [
        decode_letter(record.partition, record.offset, record.key, record.value)
        async for record in read_to_end(bootstrap, topic)
    ]
    return sorted(letters, key=lambda letter: letter.where)


async def topic_exists(bootstrap_servers: str, topic: str) -> bool:
    """Asked of the full topic list: a metadata request naming a missing topic makes a broker with
    auto.create.topics.enable create it, with one partition and default retention."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        return topic in await admin.list_topics()
    finally:
        await admin.close()
