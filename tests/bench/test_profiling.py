"""Profiling a stage in the benchmark's own process, with py-spy and with the cProfile fallback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from openpool.bench import profiling


async def _work() -> int:
    total = 0
    for n in range(200_000):
        total += n * n
        if n % 50_000 == 0:
            await asyncio.sleep(0)
    return total


async def test_the_cprofile_fallback_writes_into_a_folder_it_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fresh clone without py-spy once failed here: the fallback wrote into a sandbox folder never created.
    monkeypatch.setattr(profiling, "py_spy", lambda: None)
    out = tmp_path / "not-yet" / "bridge.py-spy.txt"

    result, summary = await profiling.profile_this_process(_work, out, "a stage")

    assert result == sum(n * n for n in range(200_000))
    assert summary.tool == "cProfile" and summary.samples > 0
    assert out.with_suffix(".cprofile").exists()
    assert summary.top_self and summary.by_component


async def test_the_project_installs_py_spy_for_the_benchmark() -> None:
    assert profiling.py_spy() is not None
