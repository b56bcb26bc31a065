"""Where one local stack keeps its state: pid records, logs, Kafka's data and the payer's dev keystore."""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StackLayout:
    root: Path

    @classmethod
    def at(cls, stack_dir: Path) -> StackLayout:
        # Absolute, because the paths end up in stack.env and are read from other working directories.
        return cls(stack_dir.expanduser().resolve())

    def record_file(self, service: str) -> Path:
        return self.root / f"{service}.pid.json"

    def log_file(self, service: str) -> Path:
        return self.root / "logs" / f"{service}.log"

    @property
    def kafka_dir(self) -> Path:
        return self.root / "kafka"

    @property
    def keystore_file(self) -> Path:
        return self.root / "payer-keystore.json"

    @property
    def keystore_password_file(self) -> Path:
        return self.root / "payer-keystore.password"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise changes to this stack across processes; re-entrant within one thread."""
        held: dict[Path, int] = _held.__dict__.setdefault("counts", {})
        if held.get(self.root):
            held[self.root] += 1
            try:
                yield
            finally:
                held[self.root] -= 1
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            held[self.root] = 1
            try:
                yield
            finally:
                held[self.root] = 0
                fcntl.flock(lock, fcntl.LOCK_UN)


# Per thread, how deep each stack dir's lock is held: a session may stop services (which locks) while
# it already holds the lock to read the other sessions' leases.
_held = threading.local()
