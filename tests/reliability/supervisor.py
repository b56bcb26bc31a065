"""The pipeline's processes supervised as Kubernetes would run them: whatever exits is started again.

Each role (`bridge`, `worker-1`, `payer`, ...) is one `openpool` command that should be running. When its
process exits — SIGKILLed by the fault loop, or exiting by itself, as a stream worker does with a non-zero
status when it finds an offset gap — the exit is counted by cause and the role is restarted after a short
delay (Kubernetes would back off from 10 s up to 5 min on repeated crashes; the loop restarts at once to keep
trials short, and reports the crashes instead). A role that is stopped on purpose (a worker leaving the
group) is not restarted.

Peak memory is the kernel's high-water mark of each process's resident set (VmHWM), sampled while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from openpool.pipeline_process import PipelineProcess

RESTART_DELAY_SECONDS = 0.2
_FAUST_PREFIX = re.compile(r"^\[[^\]]*\] \[\d+\] ")


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    kind: str
    """What the summary counts it as: bridge, worker, payer."""
    args: tuple[str, ...]
    env: Mapping[str, str]
    log: Path


@dataclass(slots=True)
class _Running:
    role: Role
    process: PipelineProcess | None = None
    wanted: bool = True
    killed: bool = False
    keeper: asyncio.Task[None] | None = None


@dataclass
class PeakMemory:
    bytes_by_kind: dict[str, int] = field(default_factory=dict)

    def sample(self, pids_by_kind: Mapping[str, list[int]]) -> None:
        for kind, pids in pids_by_kind.items():
            for pid in pids:
                peak = _high_water_mark(pid)
                if peak is not None and peak > self.bytes_by_kind.get(kind, 0):
                    self.bytes_by_kind[kind] = peak

    def mebibytes(self) -> dict[str, float]:
        return {kind: round(peak / 2**20, 1) for kind, peak in sorted(self.bytes_by_kind.items())}


class Supervisor:
    def __init__(self) -> None:
        self._roles: dict[str, _Running] = {}
        self.exits: Counter[tuple[str, str]] = Counter()
        """(kind, cause) -> exits restarted from; cause is `sigkill (injected)`, `exit N` or `signal N`."""
        self.last_words: Counter[tuple[str, str, str]] = Counter()
        """(kind, cause, last line of the log) -> exits that were not injected: what the process said last."""
        self.restarts: Counter[str] = Counter()

    def start(self, role: Role) -> None:
        """Keep `role` running from now on (a role of that name that was stopped is replaced)."""
        running = _Running(role)
        self._roles[role.name] = running
        running.keeper = asyncio.create_task(self._keep(running), name=f"supervise:{role.name}")

    def kill(self, name: str) -> bool:
        """SIGKILL the role's process; False when it was not running at that moment (e.g. being restarted)."""
        running = self._roles.get(name)
        process = running.process if running is not None else None
        if running is None or process is None or process.returncode is not None:
            return False
        running.killed = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        return True

    async def stop(self, name: str) -> None:
        """SIGTERM the role's process and do not restart it."""
        running = self._roles[name]
        running.wanted = False
        if running.process is not None:
            await running.process.stop()
        if running.keeper is not None:
            await running.keeper

    async def close(self) -> None:
        await asyncio.gather(*(self.stop(name) for name, running in self._roles.items() if running.wanted))

    def names(self, kind: str) -> list[str]:
        """The roles of `kind` that are meant to be running, by name."""
        return sorted(name for name, r in self._roles.items() if r.wanted and r.role.kind == kind)

    async def logged(self, name: str, text: str, within_seconds: float) -> None:
        """Wait until the role's process logs `text`; fails if it exits first."""
        running = self._roles[name]
        while running.process is None:
            await asyncio.sleep(0.05)
        await running.process.wait_for_line(text, within_seconds)

    def pids_by_kind(self) -> dict[str, list[int]]:
        pids: dict[str, list[int]] = {}
        for running in self._roles.values():
            process = running.process
            if process is not None and process.returncode is None:
                pids.setdefault(running.role.kind, []).append(process.pid)
        return pids

    async def _keep(self, running: _Running) -> None:
        role = running.role
        while running.wanted:
            running.killed = False
            process = await PipelineProcess.start(role.args, role.env, role.log)
            running.process = process
            if not running.wanted:  # stopped while it was being spawned
                await process.stop()
                return
            status = await process.wait()
            if not running.wanted:
                return
            cause = _cause(status, running.killed)
            self.exits[(role.kind, cause)] += 1
            if not running.killed:
                self.last_words[(role.kind, cause, _last_line(role.log))] += 1
            self.restarts[role.kind] += 1
            await asyncio.sleep(RESTART_DELAY_SECONDS)


def _cause(status: int, killed: bool) -> str:
    if killed and status == -signal.SIGKILL:
        return "sigkill (injected)"
    if status < 0:
        return f"signal {signal.Signals(-status).name}"
    return f"exit {status}"


def _last_line(log: Path, width: int = 160) -> str:
    """The log's last line without its time stamp and pid, so that the same last words count as one."""
    with log.open("rb") as file:
        file.seek(max(0, file.seek(0, os.SEEK_END) - 4096))
        lines = file.read().decode("utf-8", "replace").strip().splitlines()
    if not lines:
        return ""
    line = lines[-1]
    with contextlib.suppress(ValueError, TypeError, KeyError):
        record = json.loads(line)
        line = f"{record['level']} {record['logger']}: {record['message']}"
    return _FAUST_PREFIX.sub("", line)[:width]


def _high_water_mark(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None
