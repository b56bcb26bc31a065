"""An `openpool` command (run, worker, stack up) in a child process, with its output in a log file.

The demo and the benchmarks drive the real processes rather than the code in-process: Faust owns its
process (signals, event loop), and a benchmark of `openpool worker` should measure what production runs.
Times read from the log use the timestamp the child wrote, so polling the file adds no error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# Every line is JSON with "at", Faust's own included (openpool.logs.json_logging_config).
_JSON_STAMP = re.compile(r'^\{"at": "([^"]+)"')


class ProcessFailed(RuntimeError):
    """The child exited (or did not say what was awaited in time); the message ends with its log's tail."""


@dataclass(frozen=True, slots=True)
class LogLine:
    at: float
    """Seconds since the epoch, from the line's own timestamp."""
    text: str


def line_time(text: str) -> float | None:
    ours = _JSON_STAMP.match(text)
    if ours is not None:
        return datetime.fromisoformat(ours.group(1).replace("Z", "+00:00")).timestamp()
    return None


class PipelineProcess:
    def __init__(self, process: asyncio.subprocess.Process, log: Path, started_at: float) -> None:
        self._process = process
        self.log = log
        self.started_at = started_at
        """Seconds since the epoch, just before the child was spawned."""

    @classmethod
    async def start(
        cls, args: Sequence[str], env: Mapping[str, str], log: Path, *, python: Sequence[str] = ()
    ) -> PipelineProcess:
        """`python -m openpool.cli *args` with `env` over this process's environment.

        `python` replaces the interpreter command, e.g. to run the child under a profiler.
        """
        log.parent.mkdir(parents=True, exist_ok=True)
        interpreter = list(python) or [sys.executable]
        with log.open("ab") as out:
            started_at = time.time()
            process = await asyncio.create_subprocess_exec(
                *interpreter,
                "-m",
                "openpool.cli",
                *args,
                env={**os.environ, **env},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        return cls(process, log, started_at)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def wait(self) -> int:
        return await self._process.wait()

    async def stop(self, grace_seconds: float = 30.0) -> int:
        """SIGTERM (Faust shuts down cleanly), SIGKILL after `grace_seconds`."""
        if self._process.returncode is not None:
            return self._process.returncode
        with contextlib.suppress(ProcessLookupError):
            self._process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self._process.wait(), grace_seconds)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            return await self._process.wait()

    def lines(self) -> list[str]:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return []

    def tail(self, count: int = 40) -> str:
        return "\n".join(self.lines()[-count:])

    def failure(self, what: str) -> ProcessFailed:
        return ProcessFailed(f"{what}; last lines of {self.log}:\n{self.tail()}")

    async def wait_for_line(self, text: str, within_seconds: float, *, after: int = 0) -> LogLine:
        """The first line (from line index `after`) containing `text`; fails if the child exits first."""
        deadline = time.monotonic() + within_seconds
        while True:
            lines = self.lines()
            for line in lines[after:]:
                if text in line:
                    return LogLine(line_time(line) or time.time(), line)
            if self._process.returncode is not None:
                raise self.failure(f"exited with {self._process.returncode} before logging {text!r}")
            if time.monotonic() > deadline:
                raise self.failure(f"did not log {text!r} within {within_seconds:.0f} s")
            await asyncio.sleep(0.1)


def stack_up() -> None:
    """`openpool stack up`: starts what is not running (idempotent) and writes .openpool/stack.env.

    Its progress goes to our stderr; its stdout (the settings, which name the keystore files) is dropped.
    """
    done = subprocess.run([sys.executable, "-m", "openpool.cli", "stack", "up"], stdout=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise ProcessFailed(f"`openpool stack up` failed with exit status {done.returncode} (see above)")
