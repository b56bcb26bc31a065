"""The local stack as a whole: start, check and stop Kafka, S3 (moto) and anvil on loopback, without Docker.

Each service runs detached in its own session with a pid record in the stack dir, so `up`, `status` and
`down` can be separate CLI calls, and a test session can reuse a stack that a developer left running.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from openpool.stack.anvil import AnvilNode
from openpool.stack.endpoints import StackEndpoints
from openpool.stack.errors import StackStartError
from openpool.stack.installation import StackTools, installed
from openpool.stack.kafka import KafkaBroker
from openpool.stack.keystore import write_dev_keystore
from openpool.stack.layout import StackLayout
from openpool.stack.processes import (
    ProcessRecord,
    is_alive,
    port_is_open,
    read_record,
    spawn,
    terminate,
    write_record,
)
from openpool.stack.s3 import MotoServer

logger = logging.getLogger("openpool.stack")

SERVICE_NAMES: tuple[str, ...] = ("kafka", "s3", "anvil")
DEFAULT_STACK_DIR = Path(".openpool/stack")
DEFAULT_TOOLS_DIR = Path(".openpool/tools")
START_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 20.0

Service = KafkaBroker | MotoServer | AnvilNode


@dataclass(frozen=True)
class StackPorts:
    """Loopback ports, away from each service's standard port so a real local install is not disturbed."""

    kafka: int = 19092
    kafka_controller: int = 19093
    s3: int = 19020
    anvil: int = 18545


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    pid: int | None
    ports: tuple[int, ...]
    answers: bool
    endpoint: str
    # Seconds from launch until the service answered, when this call started it.
    startup_seconds: float | None = None


@dataclass(frozen=True)
class UpResult:
    endpoints: StackEndpoints
    services: tuple[ServiceStatus, ...]

    @property
    def started(self) -> tuple[str, ...]:
        return tuple(status.name for status in self.services if status.startup_seconds is not None)


class LocalStack:
    def __init__(
        self,
        stack_dir: Path = DEFAULT_STACK_DIR,
        ports: StackPorts | None = None,
        tools_dir: Path = DEFAULT_TOOLS_DIR,
    ) -> None:
        self.layout = StackLayout.at(stack_dir)
        self.ports = ports or StackPorts()
        self.tools_dir = tools_dir

    def up(
        self,
        names: Iterable[str] = SERVICE_NAMES,
        *,
        fresh: bool = False,
        timeout: float = START_TIMEOUT_SECONDS,
    ) -> UpResult:
        """Start the named services that are not running and wait until every one of them answers.

        Services already running are left alone, so a second call changes nothing. With `fresh`, a Kafka
        that has to be started first loses the topics of earlier runs.
        """
        wanted = _validated(names)
        with self.layout.locked():
            write_dev_keystore(self.layout.keystore_file, self.layout.keystore_password_file)
            records = {name: self._live_record(name) for name in wanted}
            services = {name: self._service(name, records[name]) for name in wanted}
            # Kafka last: formatting its storage blocks for a JVM start while the others boot.
            to_start = sorted((name for name in wanted if records[name] is None), key=lambda n: n == "kafka")
            tools = installed(self.tools_dir) if to_start else None
            for name in to_start:
                _refuse_foreign_ports(services[name])
            launched: dict[str, ProcessRecord] = {}
            try:
                startup = self._launch_and_await(services, records, to_start, tools, launched, fresh, timeout)
                s3 = services.get("s3")
                if isinstance(s3, MotoServer):
                    s3.provision()
            except BaseException:
                # Leave nothing half-started behind; services that were already running stay untouched.
                terminate(list(launched.values()), 5.0)
                for name in launched:
                    self.layout.record_file(name).unlink(missing_ok=True)
                raise
        statuses = tuple(self._report(name, services[name], records, startup.get(name)) for name in wanted)
        return UpResult(endpoints=self.endpoints(), services=statuses)

    def _launch_and_await(
        self,
        services: dict[str, Service],
        records: dict[str, ProcessRecord | None],
        to_start: list[str],
        tools: StackTools | None,
        launched: dict[str, ProcessRecord],
        fresh: bool,
        timeout: float,
    ) -> dict[str, float]:
        """Launch `to_start`, wait until every service answers; return each launched one's start-up time."""
        deadline = time.monotonic() + timeout
        given_up = threading.Event()
        launched_at: dict[str, float] = {}
        with ThreadPoolExecutor(max_workers=len(services)) as pool:
            # Each wait starts as soon as its service is launched, so the start-up times are its own.
            waits = {
                name: pool.submit(self._await_answer, services[name], record, deadline, given_up)
                for name, record in records.items()
                if record is not None
            }
            try:
                for name in to_start:
                    launched_at[name] = time.monotonic()
                    command = self._prepare(services[name], tools, fresh=fresh)
                    record = spawn(command, ports=services[name].ports, log_file=self.layout.log_file(name))
                    write_record(self.layout.record_file(name), record)
                    records[name] = launched[name] = record
                    waits[name] = pool.submit(self._await_answer, services[name], record, deadline, given_up)
                answered_at = {name: wait.result() for name, wait in waits.items()}
            except BaseException:
                given_up.set()
                raise
        return {name: answered_at[name] - started for name, started in launched_at.items()}

    def _report(
        self, name: str, service: Service, records: dict[str, ProcessRecord | None], startup: float | None
    ) -> ServiceStatus:
        record = records[name]
        assert record is not None
        fields = {"service": name, "endpoint": service.endpoint, "pid": record.pid, "startup_seconds": startup}
        if startup is not None:
            logger.info("%s answers on %s after %.2f s", name, service.endpoint, startup, extra=fields)
        else:
            logger.info("%s already running on %s", name, service.endpoint, extra=fields)
        return ServiceStatus(
            name=name,
            running=True,
            pid=record.pid,
            ports=service.ports,
            answers=True,
            endpoint=service.endpoint,
            startup_seconds=startup,
        )

    def status(self) -> tuple[ServiceStatus, ...]:
        records = {name: self._live_record(name) for name in SERVICE_NAMES}
        services = {name: self._service(name, records[name]) for name in SERVICE_NAMES}
        with ThreadPoolExecutor(max_workers=len(SERVICE_NAMES)) as pool:
            probes = {name: pool.submit(services[name].answers) for name in SERVICE_NAMES if records[name]}
            answers = {name: probe.result() for name, probe in probes.items()}
        return tuple(
            ServiceStatus(
                name=name,
                running=records[name] is not None,
                pid=record.pid if (record := records[name]) else None,
                ports=services[name].ports,
                answers=answers.get(name, False),
                endpoint=services[name].endpoint,
            )
            for name in SERVICE_NAMES
        )

    def down(self, names: Iterable[str] = SERVICE_NAMES, timeout: float = STOP_TIMEOUT_SECONDS) -> tuple[str, ...]:
        """Stop the named services this stack dir recorded (SIGTERM, then SIGKILL); return those that ran."""
        wanted = _validated(names)
        with self.layout.locked():
            records = {
                name: record for name in wanted if (record := read_record(self.layout.record_file(name))) is not None
            }
            running = tuple(name for name, record in records.items() if is_alive(record))
            terminate(list(records.values()), timeout)
            for name in records:
                self.layout.record_file(name).unlink(missing_ok=True)
        for name in running:
            logger.info("%s stopped", name, extra={"service": name, "pid": records[name].pid})
        return running

    def endpoints(self) -> StackEndpoints:
        records = {name: self._live_record(name) for name in SERVICE_NAMES}
        return StackEndpoints(
            kafka_bootstrap=self._service("kafka", records["kafka"]).endpoint,
            s3_endpoint=self._service("s3", records["s3"]).endpoint,
            eth_rpc=self._service("anvil", records["anvil"]).endpoint,
            keystore_file=self.layout.keystore_file,
            keystore_password_file=self.layout.keystore_password_file,
        )

    def _live_record(self, name: str) -> ProcessRecord | None:
        record = read_record(self.layout.record_file(name))
        return record if record is not None and is_alive(record) else None

    def _service(self, name: str, record: ProcessRecord | None) -> Service:
        # A running service keeps the ports it was started with, whatever this call was configured with.
        if name == "kafka":
            if record is not None and len(record.ports) == 2:
                return KafkaBroker(port=record.ports[0], controller_port=record.ports[1])
            return KafkaBroker(port=self.ports.kafka, controller_port=self.ports.kafka_controller)
        port = record.ports[0] if record is not None and record.ports else None
        if name == "s3":
            return MotoServer(port=port or self.ports.s3)
        return AnvilNode(port=port or self.ports.anvil)

    def _prepare(self, service: Service, tools: StackTools | None, *, fresh: bool) -> list[str]:
        assert tools is not None
        if isinstance(service, KafkaBroker):
            if fresh:
                shutil.rmtree(self.layout.kafka_dir, ignore_errors=True)
            service.prepare(self.layout, tools.kafka)
            return service.command(self.layout, tools.kafka)
        if isinstance(service, MotoServer):
            service.prepare()
            return service.command()
        return service.command(tools.anvil_binary)

    def _await_answer(
        self, service: Service, record: ProcessRecord, deadline: float, given_up: threading.Event
    ) -> float:
        while not given_up.is_set():
            if service.answers():
                return time.monotonic()
            if not is_alive(record):
                raise StackStartError(
                    f"{service.name} exited while starting; the end of its log:\n{self._log_tail(service.name)}"
                )
            if time.monotonic() > deadline:
                raise StackStartError(
                    f"{service.name} did not answer on {service.endpoint} in time; "
                    f"see {self.layout.log_file(service.name)}"
                )
            time.sleep(0.1)
        raise StackStartError(f"{service.name}: start-up abandoned")

    def _log_tail(self, name: str, lines: int = 25) -> str:
        try:
            text = self.layout.log_file(name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def ensure_running(
    stack_dir: Path,
    ports: StackPorts | None = None,
    tools_dir: Path = DEFAULT_TOOLS_DIR,
    names: Iterable[str] = SERVICE_NAMES,
) -> StackEndpoints:
    """Start what is not running yet and return where to reach the stack."""
    return LocalStack(stack_dir, ports, tools_dir).up(names).endpoints


def stop(stack_dir: Path) -> tuple[str, ...]:
    return LocalStack(stack_dir).down()


def _validated(names: Iterable[str]) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(names))
    unknown = [name for name in wanted if name not in SERVICE_NAMES]
    if unknown:
        raise ValueError(f"unknown services {unknown}; the stack has {list(SERVICE_NAMES)}")
    return wanted


def _refuse_foreign_ports(service: Service) -> None:
    for port in service.ports:
        if port_is_open(service.host, port):
            raise StackStartError(
                f"port {port} for {service.name} is taken by a process this stack did not start: "
                "stop it, or choose other ports (see `openpool stack up --help`)"
            )
