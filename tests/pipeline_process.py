"""One test's pipeline as an operator runs it: `openpool` subprocesses with its environment, its topics read back.

Subprocesses run in the test's own directory, away from the developer's `.openpool/stack.env`.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session
from aiokafka import AIOKafkaProducer, ConsumerRecord

from openpool.dead_letters import DeadLetter, DeadLetterWriter
from openpool.dlq.reader import topic_exists
from openpool.settings import Settings
from openpool.topic_reader import read_to_end
from openpool.topics import ensure_topics, owned_topics
from tests.stream_app.pipeline import pipeline_env, settings_of, upload

OPENPOOL = [sys.executable, "-m", "openpool.cli"]


@dataclass(frozen=True)
class PipelineProcess:
    env: dict[str, str]
    cwd: Path

    @property
    def settings(self) -> Settings:
        return settings_of(self.env)

    def openpool(
        self, *args: str, timeout: float = 120, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`openpool *args` to its end; `env` overrides variables of the pipeline's environment."""
        return subprocess.run(
            [*OPENPOOL, *args],
            env={**self.env, **(env or {})},
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    @contextmanager
    def running(self, *args: str, log: Path, env: Mapping[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
        """A long-running `openpool` command, its output in `log`; stopped with SIGTERM (SIGKILL after 30 s)."""
        with log.open("ab") as out:
            process = subprocess.Popen(
                [*OPENPOOL, *args], env={**self.env, **(env or {})}, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def openpool_json(self, *args: str, timeout: float = 120) -> Any:
        done = self.openpool(*args, timeout=timeout)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    async def upload(self, files: Mapping[str, bytes], concurrency: int = 16) -> None:
        """Create the buckets and put every file, several at a time."""
        await upload(self.env, {})
        gate = asyncio.Semaphore(concurrency)
        async with get_session().create_client(
            "s3",
            endpoint_url=self.env["S3_ENDPOINT"],
            region_name="us-east-1",
            aws_access_key_id="k",
            aws_secret_access_key="s",
        ) as s3:

            async def put(key: str, body: bytes) -> None:
                async with gate:
                    await s3.put_object(Bucket=self.env["S3_BUCKET"], Key=key, Body=body)

            await asyncio.gather(*(put(key, body) for key, body in files.items()))

    async def ensure_topics(self) -> None:
        await ensure_topics(self.settings, owned_topics(self.settings))

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """As a stage would: through the one writer, each acknowledged."""
        await self.ensure_topics()
        producer = AIOKafkaProducer(bootstrap_servers=self.env["KAFKA_BOOTSTRAP_SERVERS"], acks="all")
        await producer.start()
        try:
            writer = DeadLetterWriter(producer, self.settings.topics.dead_letters)
            for letter in letters:
                await (await writer.send(letter))
        finally:
            await producer.stop()

    async def read(self, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
        bootstrap = self.env["KAFKA_BOOTSTRAP_SERVERS"]
        if not await topic_exists(bootstrap, topic):
            return []
        return [record async for record in read_to_end(bootstrap, topic)]

    async def dead_letters(self) -> list[dict[str, Any]]:
        return [json.loads(record.value) for record in await self.read(self.settings.topics.dead_letters)]


@pytest.fixture
def pipeline(kafka_bootstrap: str, s3_endpoint: str, name_prefix: str, tmp_path: Path) -> PipelineProcess:
    return PipelineProcess(pipeline_env(name_prefix, kafka_bootstrap, s3_endpoint), tmp_path)
