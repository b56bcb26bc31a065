"""Test sessions sharing one stack dir: each holds a lease, and the last to leave stops what sessions started.

Several pytest runs may use the test stack at once (two terminals, several agents on one checkout). A
session must neither stop a broker that another session still uses, nor leave running what only test
sessions asked for. Services that someone started by hand (`openpool stack up`) are never stopped here.

Kafka and S3 are shared: tests keep apart by name prefixes. A chain is not: automine, the base fee and
snapshots are node-wide, and tests change them, so each session can have a private anvil of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path

from openpool.stack.processes import ProcessRecord, is_alive, read_record, start_ticks, write_record
from openpool.stack.services import LocalStack, StackPorts, UpResult


class SharedStack:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self._sessions = stack.layout.root / "sessions"
        self._started_file = stack.layout.root / "started-by-sessions.json"
        self._joined = False

    def up(self, names: Iterable[str], *, fresh: bool = False) -> UpResult:
        """Join the stack's sessions and make sure the named shared services run."""
        with self.stack.layout.locked():
            self._join()
            result = self.stack.up(names, fresh=fresh)
            self._write_started(self._read_started() | set(result.started))
        return result

    def up_private(self, names: Iterable[str]) -> UpResult:
        """Start the named services for this session alone, on free ports; `leave` stops them."""
        with self.stack.layout.locked():
            self._join()
        kafka, kafka_controller, s3, anvil = _free_ports(4)
        ports = StackPorts(kafka=kafka, kafka_controller=kafka_controller, s3=s3, anvil=anvil)
        return LocalStack(self._private_dir(os.getpid()), ports, self.stack.tools_dir).up(names)

    def leave(self) -> tuple[str, ...]:
        """Drop this session's lease; the last live session stops what sessions started. Returns what stopped."""
        if not self._joined:
            return ()
        self._joined = False
        with self.stack.layout.locked():
            self._end_session(os.getpid())
            if any(self._live_sessions()):
                return ()
            stopped = self.stack.down(sorted(self._read_started()))
            self._started_file.unlink(missing_ok=True)
            return stopped

    def _join(self) -> None:
        pid = os.getpid()
        lease = ProcessRecord(pid=pid, start_ticks=start_ticks(pid), ports=(), command=())
        write_record(self._sessions / f"{pid}.json", lease)
        self._joined = True

    def _end_session(self, pid: int) -> None:
        private_dir = self._private_dir(pid)
        if private_dir.exists():
            LocalStack(private_dir).down()
            shutil.rmtree(private_dir, ignore_errors=True)
        (self._sessions / f"{pid}.json").unlink(missing_ok=True)

    def _live_sessions(self) -> Iterator[int]:
        for lease_file in self._sessions.glob("*.json"):
            lease = read_record(lease_file)
            if lease is not None and is_alive(lease):
                yield lease.pid
            elif lease is not None:
                self._end_session(lease.pid)  # a session that died without leaving
            else:
                lease_file.unlink(missing_ok=True)

    def _private_dir(self, pid: int) -> Path:
        return self._sessions / f"{pid}-stack"

    def _read_started(self) -> set[str]:
        try:
            names = json.loads(self._started_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return set()
        return {str(name) for name in names} if isinstance(names, list) else set()

    def _write_started(self, names: set[str]) -> None:
        self._started_file.write_text(json.dumps(sorted(names)), encoding="utf-8")


def _free_ports(count: int) -> list[int]:
    """Ports the kernel reports free; bound together, so they are distinct."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()
