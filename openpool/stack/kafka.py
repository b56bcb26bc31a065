"""Apache Kafka from the stock jars on Maven Central: install them once per version, run one KRaft node.

This does what Kafka's own launch scripts do (`kafka-storage.sh format`, `kafka-server-start.sh`) with
the jars that Maven resolves from `pom.xml`, so neither a tarball download nor Docker is needed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shutil
import subprocess
import uuid
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from openpool.stack.errors import StackInstallError, StackStartError
from openpool.stack.layout import StackLayout
from openpool.stack.processes import port_is_open

POM = Path(__file__).with_name("pom.xml")
LOG4J2_CONFIG = Path(__file__).with_name("kafka-log4j2.properties")
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
BROKER_HEAP = "-Xmx512m"


@dataclass(frozen=True)
class KafkaInstallation:
    version: str
    libs: Path

    @property
    def classpath(self) -> str:
        # The JVM expands a trailing `*` to every jar in the folder, as Kafka's own scripts rely on.
        return f"{self.libs}/*"

    def is_complete(self) -> bool:
        return self.libs.is_dir() and any(self.libs.glob(f"kafka_2.13-{self.version}.jar"))


def kafka_version() -> str:
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    version = ElementTree.parse(POM).getroot().findtext("m:properties/m:kafka.version", namespaces=namespace)
    if not version:
        raise StackInstallError(f"{POM} does not set the kafka.version property")
    return version.strip()


def install_kafka(cache_dir: Path) -> KafkaInstallation:
    """Copy the broker's jars into `<cache_dir>/kafka-<version>/libs`, unless the same pom already did."""
    version = kafka_version()
    target = cache_dir / f"kafka-{version}"
    installation = KafkaInstallation(version=version, libs=target / "libs")
    marker = target / "installed.json"
    pom_digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if installation.is_complete() and _marker_digest(marker) == pom_digest:
        return installation

    maven = shutil.which("mvn")
    if maven is None:
        raise StackInstallError("Maven (`mvn`) is needed to fetch the Kafka jars: apt-get install maven")
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(POM, target / "pom.xml")
    staging = target / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    result = subprocess.run(
        [
            maven,
            "--batch-mode",
            "--quiet",
            "-Dstyle.color=never",
            "-f",
            str(target / "pom.xml"),
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        raise StackInstallError("mvn could not fetch the Kafka jars:\n" + "\n".join(output[-30:]))
    shutil.rmtree(installation.libs, ignore_errors=True)
    staging.replace(installation.libs)
    marker.write_text(json.dumps({"pom_sha256": pom_digest}), encoding="utf-8")
    return installation


def _marker_digest(marker: Path) -> str | None:
    try:
        value = json.loads(marker.read_text(encoding="utf-8")).get("pom_sha256")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


class KafkaBroker:
    """One combined broker + controller node on loopback, its data under the stack dir."""

    name = "kafka"

    def __init__(self, port: int, controller_port: int, host: str = "127.0.0.1") -> None:
        self.port = port
        self.controller_port = controller_port
        self.host = host

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port, self.controller_port)

    def prepare(self, layout: StackLayout, installation: KafkaInstallation) -> None:
        config = layout.kafka_dir / "server.properties"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(self._server_properties(layout), encoding="utf-8")
        if (self._data_dir(layout) / "meta.properties").exists():
            return
        result = subprocess.run(
            [
                *self._java(installation, layout),
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "--ignore-formatted",
                "--cluster-id",
                _random_cluster_id(),
                "--config",
                str(config),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()
            raise StackStartError("kafka storage format failed:\n" + "\n".join(output[-30:]))

    def command(self, layout: StackLayout, installation: KafkaInstallation) -> list[str]:
        return [
            *self._java(installation, layout),
            "kafka.Kafka",
            str(layout.kafka_dir / "server.properties"),
        ]

    def answers(self, timeout: float = 3.0) -> bool:
        """A real metadata round trip: the broker is registered and serves clients, not just listening."""
        if not port_is_open(self.host, self.port):
            return False
        return asyncio.run(self._describe_cluster(timeout))

    async def _describe_cluster(self, seconds: float) -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.endpoint, request_timeout_ms=int(seconds * 1000))
        try:
            async with asyncio.timeout(seconds):
                await admin.start()
                cluster = await admin.describe_cluster()
        except (KafkaError, OSError, TimeoutError):
            return False
        finally:
            await admin.close()
        return bool(cluster.get("brokers"))

    def _data_dir(self, layout: StackLayout) -> Path:
        return layout.kafka_dir / "data"

    def _java(self, installation: KafkaInstallation, layout: StackLayout) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise StackStartError("Java 17 or newer is needed to run Kafka: apt-get install openjdk-17-jre-headless")
        return [
            java,
            BROKER_HEAP,
            "-XX:+UseG1GC",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
            f"-Dkafka.logs.dir={layout.kafka_dir / 'logs'}",
            "-cp",
            installation.classpath,
        ]

    def _server_properties(self, layout: StackLayout) -> str:
        broker = f"{self.host}:{self.port}"
        controller = f"{self.host}:{self.controller_port}"
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": controller,
            "listeners": f"PLAINTEXT://{broker},CONTROLLER://{controller}",
            "advertised.listeners": f"PLAINTEXT://{broker},CONTROLLER://{controller}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self._data_dir(layout)),
            "num.partitions": "1",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Stock Kafka holds a new group's first rebalance for 3 s; tests and the demo should not wait.
            "group.initial.rebalance.delay.ms": "0",
        }
        return "".join(f"{key}={value}\n" for key, value in properties.items())


def _random_cluster_id() -> str:
    # Kafka's Uuid.randomUuid().toString(): URL-safe base64 of 16 random bytes, unpadded; like Kafka,
    # avoid a leading "-", which a command line would take for an option.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not cluster_id.startswith("-"):
            return cluster_id
