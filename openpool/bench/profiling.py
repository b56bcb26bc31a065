"""Profiling a stage while it works: py-spy when installed, cProfile otherwise.

py-spy samples every thread of a process from outside and barely slows it; cProfile (always there) sees only
the thread it runs in — where Faust runs the agents and where the bridge runs — and slows it down, so its
shares are rougher. A worker is profiled by attaching py-spy to it, or by restarting it under cProfile; the
bridge, which the benchmark runs in its own process, by sampling this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import os
import pstats
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from openpool.bench.results import ProfileSummary
from openpool.bench.stacks import frame_label, parse_collapsed, summarise_stacks, summarise_totals
from openpool.pipeline_process import PipelineProcess
from openpool.sandbox import Sandbox

SAMPLES_PER_SECOND = 100
T = TypeVar("T")


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Sampler:
    """py-spy recording one process from `attach` until `stop`."""

    def __init__(self, process: asyncio.subprocess.Process, out: Path) -> None:
        self._process = process
        self._out = out
        self._began = time.monotonic()

    @classmethod
    async def attach(cls, tool: str, pid: int, out: Path) -> Sampler:
        out.parent.mkdir(parents=True, exist_ok=True)
        command = [tool, "record", "--pid", str(pid), "--rate", str(SAMPLES_PER_SECOND), "--nonblocking"]
        command += ["--format", "raw", "--output", str(out)]
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        return cls(process, out)

    @property
    def running(self) -> bool:
        return self._process.returncode is None

    async def abandon(self) -> None:
        """For a py-spy that could not attach (and has exited)."""
        await self._process.communicate()

    async def stop(self, stage: str) -> ProfileSummary:
        """py-spy writes what it sampled when interrupted, as after Ctrl-C."""
        seconds = time.monotonic() - self._began
        with contextlib.suppress(ProcessLookupError):
            self._process.send_signal(signal.SIGINT)
        _, errors = await self._process.communicate()
        if self._process.returncode != 0:
            detail = errors.decode(errors="replace")[-500:]
            raise RuntimeError(f"py-spy failed ({self._process.returncode}): {detail}")
        return summary_from_collapsed(self._out, stage, seconds)


async def profile_pid(tool: str, pid: int, seconds: float, out: Path, stage: str) -> ProfileSummary:
    """Attach py-spy to a running process for `seconds`."""
    sampler = await Sampler.attach(tool, pid, out)
    await asyncio.sleep(seconds)
    return await sampler.stop(stage)


async def profile_worker_with_cprofile(sandbox: Sandbox, seconds: float, out: Path, stage: str) -> ProfileSummary:
    """Restart the sandbox's worker under cProfile (it resumes from the committed offsets) for `seconds`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    python = [sys.executable, "-m", "cProfile", "-o", str(out)]
    log = sandbox.log_file("worker-cprofile")
    process = await PipelineProcess.start(["worker"], sandbox.env(), log, python=python)
    try:
        await process.wait_for_line("Worker ready", 180)
        await asyncio.sleep(seconds)
    finally:
        await process.stop()
    return summary_from_pstats(out, stage, seconds)


async def profile_this_process(run: Callable[[], Awaitable[T]], out: Path, stage: str) -> tuple[T, ProfileSummary]:
    """Run `run()` in this process while sampling it: py-spy if it may attach here, else cProfile."""
    tool = py_spy()
    if tool is not None:
        sampler = await Sampler.attach(tool, os.getpid(), out)
        await asyncio.sleep(1.0)  # py-spy attaches before the work starts
        if sampler.running:
            try:
                result = await run()
            finally:
                summary = await sampler.stop(stage)
            return result, summary
        await sampler.abandon()
    out.parent.mkdir(parents=True, exist_ok=True)  # py-spy's branch makes it in Sampler.attach; this one must too
    profiler = cProfile.Profile()
    began = time.monotonic()
    profiler.enable()
    try:
        result = await run()
    finally:
        profiler.disable()
    stats_file = out.with_suffix(".cprofile")
    profiler.dump_stats(str(stats_file))
    return result, summary_from_pstats(stats_file, stage, time.monotonic() - began)


def summary_from_collapsed(out: Path, stage: str, seconds: float) -> ProfileSummary:
    samples, components, top_self, inclusive = summarise_stacks(parse_collapsed(out.read_text().splitlines()))
    return ProfileSummary(
        stage, "py-spy", seconds, samples, tuple(components), tuple(top_self), tuple(inclusive), str(out)
    )


def summary_from_pstats(out: Path, stage: str, seconds: float) -> ProfileSummary:
    stats = pstats.Stats(str(out))
    self_seconds: dict[str, float] = {}
    inclusive_seconds: dict[str, float] = {}
    calls = 0
    for (file, line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        label = frame_label(f"{function} ({file}:{line})")
        self_seconds[label] = self_seconds.get(label, 0.0) + row[2]
        inclusive_seconds[label] = max(inclusive_seconds.get(label, 0.0), row[3])
        calls += row[1]
    components, top_self, inclusive = summarise_totals(self_seconds, inclusive_seconds)
    return ProfileSummary(
        stage, "cProfile", seconds, calls, tuple(components), tuple(top_self), tuple(inclusive), str(out)
    )
