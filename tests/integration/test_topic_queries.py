"""Asking about topics must never create them: a broker with auto-creation on would make a missing topic
with one partition and default retention, which later clashes with the app's partition counts."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from openpool.topics import partitions_of

pytestmark = pytest.mark.integration


async def test_asking_for_the_partitions_of_a_missing_topic_does_not_create_it(
    kafka_bootstrap: str, name_prefix: str
) -> None:
    missing = f"{name_prefix}.never-created"
    assert await partitions_of(kafka_bootstrap, [missing]) == {}
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert missing not in await admin.list_topics()
    finally:
        await admin.close()
