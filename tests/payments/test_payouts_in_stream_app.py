"""`openpool run --until-idle` with payouts enabled: S3 files -> earnings -> one payout round -> exports that
show the payments, every worker paid on chain exactly its earnings."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from aiobotocore.session import get_session

from payments.signer import Signer
from tests.payments.anvil_control import AnvilControl
from tests.payments.payer_env import PayerEnv
from tests.stream_app.pipeline import expected_earnings, pipeline_env, pool_files, upload

pytestmark = pytest.mark.integration


async def test_run_until_idle_pays_every_worker_its_earnings_once_and_the_summary_shows_the_payments(
    anvil: AnvilControl,
    payer: PayerEnv,
    payer_signer: Signer,
    kafka_bootstrap: str,
    s3_endpoint: str,
    name_prefix: str,
) -> None:
    files = pool_files(seed=11, minutes=2, transcode_jobs=10, ai_jobs=6)
    owed: dict[str, int] = defaultdict(int)
    for (address, _), entry in expected_earnings(files, Decimal("0.25")).items():
        owed[address] += entry.worker_earnings
    chain_settings = {name: payer.variables[name] for name in ("ETH_RPC_ENDPOINT", "CHAIN_ID", "ETH_PRIVATE_KEY")}
    env = pipeline_env(
        name_prefix,
        kafka_bootstrap,
        s3_endpoint,
        **chain_settings,
        OPENPOOL_PAYOUTS_ENABLED="true",
        PAYMENT_THRESHOLD_WEI="1",
        OPENPOOL_PAYOUT_POLL_INTERVAL_SECONDS="0.05",
    )
    await upload(env, files)
    before = {address: await anvil.balance(address) for address in owed}
    start = await anvil.block_number()

    log_path = Path(env["OPENPOOL_DATA_DIR"] + ".log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        done = subprocess.run(
            [sys.executable, "-m", "openpool.cli", "run", "--until-idle"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=240,
            check=False,
        )

    assert done.returncode == 0, log_path.read_text()[-3000:]
    assert {a: await anvil.balance(a) - before[a] for a in owed} == dict(owed)
    assert await anvil.successful_transfers(payer_signer.address, start) == {a.lower(): 1 for a in owed}
    async with get_session().create_client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    ) as s3:
        response = await s3.get_object(Bucket=env["S3_METRICS_BUCKET"], Key="us-central/transcode/worker_summary.json")
        summary = json.loads(await response["Body"].read())
    workers = summary["data"]["workers"]
    assert workers
    for address, worker in workers.items():
        assert worker["total_fees_paid"] == owed[address] and worker["pending_fees"] == 0
        (payment,) = worker["payment_history"]
        assert payment["status"] == "completed" and payment["amount"] == owed[address]
        assert payment["transaction_hash"].startswith("0x") and len(payment["transaction_hash"]) == 66
        assert worker["payment_count"] == 1 and worker["last_payment_date"] == payment["timestamp"]
    assert summary["data"]["aggregates"]["total_payments"] == len(workers)
