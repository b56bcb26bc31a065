"""One test's payer: its settings in-process, its environment for payer subprocesses, its earnings topic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer

from openpool.settings import Settings
from payments.kafka_wal import ensure_payer_topics, read_wal
from payments.wal import WalRecord

CLI = [sys.executable, "-m", "openpool.cli", "payments"]
DRILL = [sys.executable, "-m", "payments.crash_drill"]


@dataclass(frozen=True)
class PayerEnv:
    variables: dict[str, str]
    cwd: Path

    def settings(self, **overrides: str) -> Settings:
        return Settings(_env_file=None, **{**self.variables, **overrides})  # type: ignore[call-arg]

    def env(self, **overrides: str) -> dict[str, str]:
        """For a subprocess; it runs in `cwd`, away from the developer's .openpool/stack.env."""
        return {**os.environ, **self.variables, **overrides}

    def cli(self, *args: str, timeout: float = 90, **overrides: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args],
            env=self.env(**overrides),
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def drill(self, *args: str, **overrides: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*DRILL, *args],
            env=self.env(**overrides),
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    async def publish_earnings(self, earnings: Mapping[str, int]) -> None:
        """Write the fees agent's read model for each address, as the stream app would."""
        settings = self.settings()
        await ensure_payer_topics(settings)
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
        await producer.start()
        try:
            for address, amount in earnings.items():
                model = {
                    "worker_address": address,
                    "worker_earnings": amount,
                    "total_fees": amount,
                    "pool_commission": 0,
                    "job_count": 1,
                    "partitions": {},
                }
                await producer.send_and_wait(
                    settings.topics.earnings, key=address.encode(), value=json.dumps(model).encode()
                )
        finally:
            await producer.stop()

    async def wal(self) -> tuple[WalRecord, ...]:
        settings = self.settings()
        return await read_wal(settings.kafka_bootstrap_servers, settings.topics.payout_wal)
