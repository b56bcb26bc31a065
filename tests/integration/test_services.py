"""The real services the pipeline is built on answer the way the pipeline will use them."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest
from aiobotocore.session import get_session
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from eth_account import Account
from web3 import AsyncHTTPProvider, AsyncWeb3

from openpool.stack.endpoints import StackEndpoints
from openpool.stack.keystore import DEV_ACCOUNT_ADDRESS

pytestmark = pytest.mark.integration


async def test_records_produced_to_the_broker_are_consumed_in_order(kafka_bootstrap: str, name_prefix: str) -> None:
    topic = f"{name_prefix}-events"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    sent = [(f"worker-{index}".encode(), json.dumps({"job": index}).encode()) for index in range(5)]

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in sent:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{name_prefix}-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        received: list[tuple[bytes | None, bytes | None]] = []
        while len(received) < len(sent):
            batches = await consumer.getmany(timeout_ms=10_000)
            assert batches, "no records arrived within 10 s"
            received.extend((record.key, record.value) for records in batches.values() for record in records)
        await consumer.commit()
        committed = await consumer.committed(next(iter(consumer.assignment())))
    finally:
        await consumer.stop()

    assert received == sent
    assert committed == len(sent)


async def test_a_compacted_topic_reports_its_cleanup_policy(kafka_bootstrap: str, name_prefix: str) -> None:
    topic = f"{name_prefix}-ledger"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, num_partitions=2, replication_factor=1, topic_configs={"cleanup.policy": "compact"})]
        )
        partitions = await _partitions_once_visible(admin, topic)
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()

    (error_code, _message, _type, resource_name, entries) = responses[0].resources[0]
    config = {entry[0]: entry[1] for entry in entries}
    assert (error_code, resource_name) == (0, topic)
    assert config["cleanup.policy"] == "compact"
    assert partitions == 2


async def _partitions_once_visible(admin: AIOKafkaAdminClient, topic: str) -> int:
    # CreateTopics returns once the controller committed the topic; the broker that answers metadata
    # learns of it a moment later, and until then says UNKNOWN_TOPIC_OR_PARTITION.
    for _ in range(100):
        described = await admin.describe_topics([topic])
        if described[0]["error_code"] == 0 and described[0]["partitions"]:
            return len(described[0]["partitions"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"{topic} did not appear in the broker's metadata within 5 s")


async def test_objects_written_to_s3_are_listed_and_read_back(s3_endpoint: str, name_prefix: str) -> None:
    bucket = name_prefix
    keys = [f"events/2026/11/25/{index:03d}.json" for index in range(3)]
    session = get_session()
    async with session.create_client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="openpool",
        aws_secret_access_key="openpool",
    ) as s3:
        await s3.create_bucket(Bucket=bucket)
        for key in keys:
            await s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({"key": key}).encode())
        await s3.put_object(Bucket=bucket, Key="elsewhere/other.json", Body=b"{}")

        listing = await s3.list_objects_v2(Bucket=bucket, Prefix="events/")
        response = await s3.get_object(Bucket=bucket, Key=keys[1])
        async with response["Body"] as body:
            content = await body.read()

    assert [item["Key"] for item in listing["Contents"]] == keys
    assert json.loads(content) == {"key": keys[1]}


async def test_an_eip1559_transfer_on_anvil_moves_the_balance(stack_endpoints: StackEndpoints) -> None:
    password = stack_endpoints.keystore_password_file.read_text(encoding="utf-8").strip()
    keystore = json.loads(stack_endpoints.keystore_file.read_text(encoding="utf-8"))
    payer = Account.from_key(Account.decrypt(keystore, password))
    recipient = Account.create(secrets.token_hex(16)).address
    amount = 10**16
    w3 = AsyncWeb3(AsyncHTTPProvider(stack_endpoints.eth_rpc))

    assert payer.address == DEV_ACCOUNT_ADDRESS
    assert await w3.eth.chain_id == 42161
    # The fee the next block will charge: other tests may have moved it away from anvil's default.
    next_base_fee = (await w3.eth.get_block("pending"))["baseFeePerGas"]
    transaction = {
        "type": 2,
        "chainId": 42161,
        "nonce": await w3.eth.get_transaction_count(payer.address, "pending"),
        "to": recipient,
        "value": amount,
        "gas": 21_000,
        "maxPriorityFeePerGas": 1_000_000_000,
        "maxFeePerGas": 2 * next_base_fee + 1_000_000_000,
    }
    signed = payer.sign_transaction(transaction)
    tx_hash = await w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = await w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)

    assert receipt["status"] == 1
    assert receipt["type"] == 2
    assert await w3.eth.get_balance(recipient) == amount
    # Across the block that mined it (automine: one transaction per block), the payer lost amount + fee.
    block = receipt["blockNumber"]
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    before = await w3.eth.get_balance(payer.address, block_identifier=block - 1)
    after = await w3.eth.get_balance(payer.address, block_identifier=block)
    assert before - after == amount + fee
