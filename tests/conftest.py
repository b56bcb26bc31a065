"""Fixtures for the real services the integration tests use: Kafka, S3 and an Ethereum node.

Each service comes from the first source that has it:
1. its environment variable (KAFKA_BOOTSTRAP_SERVERS, S3_ENDPOINT, ETH_RPC_ENDPOINT), as for any openpool process;
2. a testcontainers container, when a Docker engine answers;
3. the local stack (`openpool.stack`) in `.openpool/test-stack`, on its own ports so a developer's `openpool stack up`
   is left alone. Sessions running at once share its Kafka and S3 (the last one to finish stops what test sessions
   started); each session gets an anvil of its own on a free port, since tests change node-wide settings.
"""

from __future__ import annotations

import re
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import suppress
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from openpool.settings import Settings
from openpool.stack.endpoints import StackEndpoints
from openpool.stack.errors import StackNotInstalledError
from openpool.stack.keystore import write_dev_keystore
from openpool.stack.layout import StackLayout
from openpool.stack.s3 import create_stack_buckets
from openpool.stack.services import LocalStack, StackPorts, UpResult
from openpool.stack.sessions import SharedStack

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_STACK_DIR = REPO_ROOT / ".openpool" / "test-stack"
TOOLS_DIR = REPO_ROOT / ".openpool" / "tools"
# anvil's port is only used by a hand-started test stack; sessions run their own anvil on a free port.
TEST_STACK_PORTS = StackPorts(kafka=29092, kafka_controller=29093, s3=29020, anvil=28545)

# The settings field that names each service's endpoint in the environment.
_SETTINGS_FIELDS = {"kafka": "kafka_bootstrap_servers", "s3": "s3_endpoint", "anvil": "eth_rpc_endpoint"}


class ServiceSources:
    """Resolves each service once per session, when a test first asks for it; see the module docstring."""

    def __init__(self) -> None:
        # Only the process environment counts here, not .openpool/stack.env: that file points at the
        # developer's own stack, which tests must not write into.
        settings = Settings(_env_file=None)
        self._from_environment = {
            service: str(getattr(settings, field))
            for service, field in _SETTINGS_FIELDS.items()
            if field in settings.model_fields_set
        }
        self._resolved: dict[str, str] = {}
        self._docker: bool | None = None
        self._containers: list[Any] = []
        self._stack = SharedStack(LocalStack(TEST_STACK_DIR, TEST_STACK_PORTS, TOOLS_DIR))

    def endpoint(self, service: str) -> str:
        if service not in self._resolved:
            if service in self._from_environment:
                self._resolved[service] = self._from_environment[service]
            elif self._docker_answers():
                self._resolved[service] = self._start_container(service)
            else:
                self._resolved[service] = self._start_locally(service)
        return self._resolved[service]

    def close(self) -> None:
        self._stack.leave()
        for container in self._containers:
            with suppress(Exception):
                container.stop()

    def _start_locally(self, service: str) -> str:
        # A chain has node-wide knobs (automine, base fee, snapshots) that tests turn, so every session
        # gets an anvil of its own; Kafka and S3 are shared, and tests keep apart by name prefixes.
        def start() -> UpResult:
            if service == "anvil":
                return self._stack.up_private([service])
            return self._stack.up([service], fresh=True)

        try:
            result = start()
        except StackNotInstalledError:
            _install_stack_tools()
            result = start()
        endpoints = result.endpoints
        return {"kafka": endpoints.kafka_bootstrap, "s3": endpoints.s3_endpoint, "anvil": endpoints.eth_rpc}[service]

    def _docker_answers(self) -> bool:
        if self._docker is None:
            docker = shutil.which("docker")
            try:
                self._docker = docker is not None and (
                    subprocess.run([docker, "info"], capture_output=True, timeout=5, check=False).returncode == 0
                )
            except subprocess.TimeoutExpired:
                self._docker = False
        return self._docker

    def _start_container(self, service: str) -> str:
        # Not exercised on the Docker-less CI machine; kept to the images' documented defaults.
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.wait_strategies import HttpWaitStrategy, PortWaitStrategy

        if service == "kafka":
            from testcontainers.community.kafka import KafkaContainer

            kafka = KafkaContainer().with_kraft().with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
            self._containers.append(kafka.start())
            return str(kafka.get_bootstrap_server())
        if service == "s3":
            moto = DockerContainer(f"motoserver/moto:{version('moto')}").with_exposed_ports(5000)
            self._containers.append(moto.waiting_for(HttpWaitStrategy(5000)).start())
            endpoint = f"http://{moto.get_container_host_ip()}:{moto.get_exposed_port(5000)}"
            create_stack_buckets(endpoint)
            return endpoint
        anvil = (
            DockerContainer("ghcr.io/foundry-rs/foundry:v1.7.1")
            .with_command("anvil --host 0.0.0.0 --chain-id 42161")
            .with_exposed_ports(8545)
        )
        self._containers.append(anvil.waiting_for(PortWaitStrategy(8545)).start())
        return f"http://{anvil.get_container_host_ip()}:{anvil.get_exposed_port(8545)}"


def pytest_configure(config: pytest.Config) -> None:
    # `timeout` and CI runners stop a hung run with SIGTERM, which would skip every teardown; as a
    # KeyboardInterrupt, pytest still finishes the session, and the services this session started stop.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _install_stack_tools() -> None:
    openpool = Path(sys.executable).with_name("openpool")
    subprocess.run([str(openpool), "stack", "install", "--tools-dir", str(TOOLS_DIR)], check=True)


@pytest.fixture(scope="session")
def service_sources() -> Iterator[ServiceSources]:
    sources = ServiceSources()
    yield sources
    sources.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(service_sources: ServiceSources) -> str:
    """host:port of a Kafka broker."""
    return service_sources.endpoint("kafka")


@pytest.fixture(scope="session")
def s3_endpoint(service_sources: ServiceSources) -> str:
    """URL of an S3 API (any credentials, region us-east-1)."""
    return service_sources.endpoint("s3")


@pytest.fixture(scope="session")
def eth_rpc(service_sources: ServiceSources) -> str:
    """JSON-RPC URL of an Ethereum node with chain id 42161 whose dev account 0 is funded."""
    return service_sources.endpoint("anvil")


@pytest.fixture(scope="session")
def stack_endpoints(kafka_bootstrap: str, s3_endpoint: str, eth_rpc: str) -> StackEndpoints:
    """All three services, plus the payer's dev keystore; `.as_env()` gives the settings for a subprocess."""
    layout = StackLayout.at(TEST_STACK_DIR)
    with layout.locked():
        write_dev_keystore(layout.keystore_file, layout.keystore_password_file)
    return StackEndpoints(
        kafka_bootstrap=kafka_bootstrap,
        s3_endpoint=s3_endpoint,
        eth_rpc=eth_rpc,
        keystore_file=layout.keystore_file,
        keystore_password_file=layout.keystore_password_file,
    )


@pytest.fixture
def name_prefix(request: pytest.FixtureRequest) -> str:
    """A prefix no other test uses, valid in topic, consumer group and bucket names (`t-<test>-<random>`)."""
    test = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:30].strip("-")
    return f"t-{test}-{secrets.token_hex(4)}"
