"""Detached service processes and the pid records that let a later CLI call find and stop them.

A record keeps the kernel's start time of the process next to its pid: a pid alone can be recycled by an
unrelated process after a crash or a reboot, and `down` must never signal a stranger.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

# Processes this interpreter spawned, so that their exit status is collected (no zombies while a test
# session keeps running) and `subprocess` does not warn about children it lost track of.
_spawned: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ProcessRecord:
    pid: int
    start_ticks: int | None
    ports: tuple[int, ...]
    command: tuple[str, ...]


def spawn(command: list[str], *, ports: tuple[int, ...], log_file: Path, cwd: Path | None = None) -> ProcessRecord:
    """Start `command` in its own session, so it outlives the CLI call and is stopped as one group."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _spawned[process.pid] = process
    return ProcessRecord(pid=process.pid, start_ticks=start_ticks(process.pid), ports=ports, command=tuple(command))


def write_record(path: Path, record: ProcessRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(record)), encoding="utf-8")
    temporary.replace(path)


def read_record(path: Path) -> ProcessRecord | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ProcessRecord(
            pid=int(data["pid"]),
            start_ticks=None if data.get("start_ticks") is None else int(data["start_ticks"]),
            ports=tuple(int(port) for port in data["ports"]),
            command=tuple(str(part) for part in data["command"]),
        )
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        # A torn or hand-edited record names no process we can safely signal.
        return None


def is_alive(record: ProcessRecord) -> bool:
    spawned = _spawned.get(record.pid)
    if spawned is not None:
        return spawned.poll() is None
    if _state(record.pid) in (None, "Z", "X"):
        return False
    return record.start_ticks is None or start_ticks(record.pid) == record.start_ticks


def terminate(records: list[ProcessRecord], timeout: float) -> None:
    """SIGTERM every live process group, wait up to `timeout` for all of them, then SIGKILL the rest."""
    live = [record for record in records if is_alive(record)]
    for record in live:
        _signal_group(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while live and time.monotonic() < deadline:
        time.sleep(0.05)
        live = [record for record in live if is_alive(record)]
    for record in live:
        _signal_group(record.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while live and time.monotonic() < deadline:
        time.sleep(0.05)
        live = [record for record in live if is_alive(record)]
    for record in records:
        spawned = _spawned.pop(record.pid, None)
        if spawned is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                spawned.wait(timeout=1.0)


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def _signal_group(pid: int, signum: signal.Signals) -> None:
    # Each service leads its own session (start_new_session), so its group id is its pid; signalling
    # the group also reaches any helper process the service forked.
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        return
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or parentheses.
    return stat[stat.rfind(")") + 2 :].split()


def _state(pid: int) -> str | None:
    fields = _stat_fields(pid)
    if fields is not None:
        return fields[0]
    if Path("/proc/self").exists():
        return None
    try:  # no procfs (not Linux): fall back to "a process with this pid exists"
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return "S"
    return "S"


def start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    # Field 22 of /proc/<pid>/stat, counted from the state field (field 3) here.
    return int(fields[19]) if fields is not None and len(fields) > 19 else None
