"""Every replay kind against the real broker, S3 and chain, driven through the `openpool` command as an operator
would: the whole archive replayed twice, the group rewound to the earliest offsets, and a rebuild into a new app
id. The live app pays its workers in its first run and keeps payouts enabled through its replays: each replay
leaves every worker's earnings, connections, performance and payouts as they were, and sends no transaction."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import aiohttp
import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from openpool.domain.event_files import SourceKey
from openpool.replay.app_snapshot import load_snapshot
from openpool.replay.group_offsets import describe_group, partition_offsets
from openpool.replay.offset_reset import GroupDescription
from openpool.replay.read_model_diff import AppSnapshot, diff
from openpool.topic_reader import read_to_end
from payments.kafka_wal import read_wal
from payments.wal import WalRecord
from tests.payments.anvil_control import AnvilControl
from tests.pipeline_process import PipelineProcess
from tests.replay.processes import create_bucket, run_until_idle, s3_client
from tests.stream_app.pipeline import expected_earnings, free_port, pipeline_env, pool_files, upload

pytestmark = pytest.mark.integration

ARCHIVE_PREFIX = "archive/"


@dataclass(frozen=True)
class LivePool:
    """An app that ran over the files once, with archiving on, and what its read models said then."""

    process: PipelineProcess
    files: dict[str, bytes]
    snapshot: AppSnapshot
    wal: tuple[WalRecord, ...]
    chain: AnvilControl
    block: int

    @property
    def env(self) -> dict[str, str]:
        return self.process.env

    @property
    def app_id(self) -> str:
        return self.env["OPENPOOL_APP_ID"]

    @property
    def bootstrap(self) -> str:
        return self.env["KAFKA_BOOTSTRAP_SERVERS"]

    def rebuild(self, suffix: str) -> PipelineProcess:
        """A new app id over the same broker: payouts off and no key, no bridge input, exports to a scratch bucket."""
        app_id = f"{self.app_id}-{suffix}"
        env = {
            **self.env,
            "OPENPOOL_APP_ID": app_id,
            "OPENPOOL_DATA_DIR": f".openpool/test-data/{app_id}",
            "S3_BUCKET": f"{self.app_id}-empty",
            "S3_METRICS_BUCKET": f"{self.app_id}-scratch",
        }
        for name in ("S3_ARCHIVE_BUCKET", "OPENPOOL_PAYOUTS_ENABLED", "ETH_PRIVATE_KEY"):
            env.pop(name)
        return PipelineProcess(env, self.process.cwd)


@pytest.fixture(scope="module")
async def chain(eth_rpc: str) -> AsyncIterator[AnvilControl]:
    async with aiohttp.ClientSession() as session:
        yield AnvilControl(eth_rpc, session)


@pytest.fixture(scope="module")
async def live(
    kafka_bootstrap: str, s3_endpoint: str, eth_rpc: str, chain: AnvilControl, tmp_path_factory: pytest.TempPathFactory
) -> LivePool:
    prefix = f"t-replay-{secrets.token_hex(4)}"
    payer_key = "0x" + keccak(prefix.encode()).hex()
    payer = Account.from_key(payer_key)
    await chain.set_balance(payer.address, 10 * 10**18)
    files = pool_files(seed=23, minutes=3, transcode_jobs=15, ai_jobs=9)
    env = pipeline_env(
        prefix,
        kafka_bootstrap,
        s3_endpoint,
        ETH_RPC_ENDPOINT=eth_rpc,
        CHAIN_ID="42161",
        ETH_PRIVATE_KEY=payer_key,
        OPENPOOL_PAYOUTS_ENABLED="true",
        PAYMENT_THRESHOLD_WEI="1",
        OPENPOOL_PAYOUT_POLL_INTERVAL_SECONDS="0.05",
        OPENPOOL_PAYOUT_AUDIT_PREFIX=f"{prefix}/audit/",
    )
    env.update(S3_ARCHIVE_BUCKET=env["S3_BUCKET"], S3_ARCHIVE_PREFIX=ARCHIVE_PREFIX)
    await upload(env, files)
    for bucket in (f"{prefix}-empty", f"{prefix}-scratch"):
        await create_bucket(s3_endpoint, bucket)
    process = PipelineProcess(env, tmp_path_factory.mktemp(prefix))
    run_until_idle(process)
    snapshot = await load_snapshot(kafka_bootstrap, prefix)
    expected = expected_earnings(files, Decimal("0.25"))
    assert _earnings(snapshot) == {slot: entry.worker_earnings for slot, entry in expected.items()}
    owed: dict[str, int] = defaultdict(int)
    for (address, _), entry in expected.items():
        owed[address] += entry.worker_earnings
    assert snapshot.payouts.confirmed_wei == owed, "the first run pays every worker its earnings"
    wal = await read_wal(kafka_bootstrap, f"{prefix}.payout-wal")
    return LivePool(process, files, snapshot, wal, chain, await chain.block_number())


def _earnings(snapshot: AppSnapshot) -> dict[tuple[str, str], int]:
    return {
        (address, pk): int(entry["worker_earnings"])
        for address, model in snapshot.earnings.items()
        for pk, entry in model["partitions"].items()
    }


async def _assert_unchanged(live: LivePool) -> None:
    now = await load_snapshot(live.bootstrap, live.app_id)
    report = diff(live.snapshot, now)
    assert report.identical, report.differences[:10]
    assert report.payouts_compared
    assert await read_wal(live.bootstrap, f"{live.app_id}.payout-wal") == live.wal
    assert await live.chain.block_number() == live.block, "no transaction was sent"


async def _archived_versions(live: LivePool) -> dict[str, str]:
    async with s3_client(live.env["S3_ENDPOINT"]) as s3:
        page = await s3.list_objects_v2(Bucket=live.env["S3_BUCKET"], Prefix=ARCHIVE_PREFIX)
    return {item["Key"][len(ARCHIVE_PREFIX) :]: item["ETag"].strip('"') for item in page.get("Contents", ())}


async def _published_versions(live: LivePool, app_id: str) -> Counter[tuple[str, str]]:
    """(source_key, source_version) of every record of the app's events topic, counted."""
    published: Counter[tuple[str, str]] = Counter()
    async for record in read_to_end(live.bootstrap, f"{app_id}.events"):
        headers = {name: value.decode() for name, value in record.headers}
        published[(headers["source_key"], headers["source_version"])] += 1
    return published


async def test_the_archive_holds_each_file_under_the_version_the_bridge_published(live: LivePool) -> None:
    archived = await _archived_versions(live)
    published = await _published_versions(live, live.app_id)
    assert set(archived) == set(live.files)
    assert {(key, version) for key, version in archived.items()} == set(published)


@pytest.mark.slow
async def test_replaying_the_whole_archive_twice_leaves_every_read_model_unchanged(live: LivePool) -> None:
    before = await _published_versions(live, live.app_id)
    for _ in range(2):
        done = live.process.openpool("replay", "archive")
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"{len(live.files)} to republish" in done.stdout
    after = await _published_versions(live, live.app_id)
    assert after == Counter({version: 3 * count for version, count in before.items()})
    run_until_idle(live.process)
    await _assert_unchanged(live)


@pytest.mark.slow
async def test_rewinding_the_group_to_the_earliest_offsets_is_refused_while_a_worker_runs_and_then_changes_nothing(
    live: LivePool,
) -> None:
    group, topic = live.app_id, f"{live.app_id}.events"
    reset = ("replay", "reset-offsets", "--group", group, "--topic", topic, "--to-earliest")
    committed = await _committed(live)
    with live.process.running(
        "worker", log=live.process.cwd / "worker.log", env={"OPENPOOL_WEB_PORT": str(free_port())}
    ):
        await _wait_for_group(live, lambda state: state.members != [] and state.state == "Stable")
        refused = live.process.openpool(*reset, "--execute")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "refused" in refused.stderr and "live member" in refused.stderr
    assert await _committed(live) == committed
    await _wait_for_group(live, lambda state: state.state in ("Empty", "Dead"))

    dry = live.process.openpool(*reset)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "dry run" in dry.stdout
    assert await _committed(live) == committed

    applied = live.process.openpool(*reset, "--execute")
    assert applied.returncode == 0, applied.stderr[-3000:]
    assert set((await _committed(live)).values()) == {0}
    run_until_idle(live.process)
    await _assert_unchanged(live)


async def _committed(live: LivePool) -> dict[int, int | None]:
    rows = await partition_offsets(live.bootstrap, live.app_id, f"{live.app_id}.events")
    return {row.partition: row.committed for row in rows}


async def _wait_for_group(live: LivePool, condition: Callable[[GroupDescription], bool], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not condition(await describe_group(live.bootstrap, live.app_id)):
        assert time.monotonic() < deadline, "the group did not reach the state in time"
        await asyncio.sleep(0.5)


async def test_an_app_rebuilt_from_the_archive_under_a_new_app_id_diffs_identical(live: LivePool) -> None:
    green = live.rebuild("green")
    green_app = green.env["OPENPOOL_APP_ID"]
    replayed = live.process.openpool("replay", "archive", "--to-app", green_app)
    assert replayed.returncode == 0, replayed.stderr[-3000:]
    assert f"{len(live.files)} to publish" in replayed.stdout
    assert "OPENPOOL_PAYOUTS_ENABLED" in replayed.stderr
    run_until_idle(green)

    compared = live.process.openpool("replay", "diff", "--from-app", live.app_id, "--to-app", green_app, "--json")
    assert compared.returncode == 0, compared.stdout[-3000:] + compared.stderr[-3000:]
    document = json.loads(compared.stdout)
    assert document["identical"] and document["compared"]["earnings"] > 0
    assert document["payouts_compared"] is False
    assert document["paid_beyond_earnings"] == []
    green_versions = await _published_versions(live, green_app)
    assert set(green_versions) == set(await _published_versions(live, live.app_id))


@pytest.mark.slow
async def test_a_rebuild_missing_the_last_minutes_files_diffs_different_and_names_the_workers(live: LivePool) -> None:
    short = live.rebuild("short")
    short_app = short.env["OPENPOOL_APP_ID"]
    last = max(_start(key) for key in live.files)
    replayed = live.process.openpool("replay", "archive", "--to-app", short_app, "--until", last.isoformat())
    assert replayed.returncode == 0, replayed.stderr[-3000:]
    run_until_idle(short)

    compared = live.process.openpool("replay", "diff", "--from-app", live.app_id, "--to-app", short_app)
    assert compared.returncode == 1, compared.stdout[-3000:] + compared.stderr[-3000:]
    kept = {key: body for key, body in live.files.items() if _start(key) < last}
    full, partial = expected_earnings(live.files, Decimal("0.25")), expected_earnings(kept, Decimal("0.25"))
    changed = {address for address, pk in full if full[(address, pk)] != partial.get((address, pk))}
    assert changed
    assert "DIFFERENT" in compared.stdout
    for address in changed:
        assert f"earnings     {address}" in compared.stdout
        # The live app paid the whole earnings, more than the shorter history says was earned.
        assert f"WARNING: {address} was paid" in compared.stdout
    assert await live.chain.block_number() == live.block


def _start(key: str) -> datetime:
    source = SourceKey.parse(key)
    assert source is not None
    return source.start
