"""The fault loop's own Kafka, S3 and anvil: a local stack on free ports in a folder of its own.

The shared test stack's broker serves every other test session and must never be stopped; this broker is
the loop's alone, so stopping and restarting it is one more fault. S3 and anvil sit behind cuttable proxies:
the pipeline's processes get the proxies' endpoints, the loop's own uploads and checks go straight through.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from openpool.sandbox import free_port
from openpool.stack.endpoints import StackEndpoints
from openpool.stack.processes import read_record
from openpool.stack.services import SERVICE_NAMES, LocalStack, StackPorts
from tests.conftest import TOOLS_DIR
from tests.reliability.cuttable_proxy import CuttableProxy


@dataclass(frozen=True)
class PrivateStack:
    services: LocalStack
    direct: StackEndpoints
    s3_proxy: CuttableProxy
    rpc_proxy: CuttableProxy

    @property
    def proxied(self) -> StackEndpoints:
        """What the pipeline's processes are given: S3 and the chain only through the proxies."""
        return replace(self.direct, s3_endpoint=self.s3_proxy.endpoint, eth_rpc=self.rpc_proxy.endpoint)

    async def stop_broker(self) -> None:
        """SIGTERM (a controlled shutdown), SIGKILL if it takes longer than the stack allows."""
        await asyncio.to_thread(self.services.down, ["kafka"])

    async def start_broker(self) -> None:
        """The same broker again, on its ports and with its data, once it answers metadata requests."""
        await asyncio.to_thread(self.services.up, ["kafka"])

    def service_pids(self) -> dict[str, int]:
        """The pid of each stack service that runs now, by service name."""
        pids = {}
        for name in SERVICE_NAMES:
            record = read_record(self.services.layout.record_file(name))
            if record is not None:
                pids[name] = record.pid
        return pids


@asynccontextmanager
async def private_stack(folder: Path) -> AsyncIterator[PrivateStack]:
    kafka, controller, s3, anvil = _distinct_free_ports(4)
    services = LocalStack(folder, StackPorts(kafka, controller, s3, anvil), TOOLS_DIR)
    direct = (await asyncio.to_thread(services.up)).endpoints
    s3_proxy, rpc_proxy = CuttableProxy(direct.s3_endpoint), CuttableProxy(direct.eth_rpc)
    try:
        await s3_proxy.start()
        await rpc_proxy.start()
        yield PrivateStack(services, direct, s3_proxy, rpc_proxy)
    finally:
        await s3_proxy.close()
        await rpc_proxy.close()
        await asyncio.to_thread(services.down)


def _distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports
