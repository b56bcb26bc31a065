"""Local tables are kept only after a clean shutdown (stream_app/local_state.py)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from stream_app.local_state import CLEAN_SHUTDOWN_MARKER, discard_unless_clean, mark_clean
from tests.pipeline_process import PipelineProcess, pipeline
from tests.stream_app.pipeline import free_port, wait_ready

__all__ = ["pipeline"]


def test_state_left_by_an_unclean_end_is_discarded(tmp_path: Path) -> None:
    tabledir = tmp_path / "v1" / "tables"
    (tabledir / "earnings-0.db").mkdir(parents=True)
    assert discard_unless_clean(tabledir)
    assert not tabledir.exists()


def test_state_left_by_a_clean_shutdown_is_kept_once(tmp_path: Path) -> None:
    tabledir = tmp_path / "v1" / "tables"
    (tabledir / "earnings-0.db").mkdir(parents=True)
    mark_clean(tabledir)
    assert not discard_unless_clean(tabledir)
    assert (tabledir / "earnings-0.db").exists()
    assert not (tabledir / CLEAN_SHUTDOWN_MARKER).exists(), "the marker must not outlive the run that reads it"
    assert discard_unless_clean(tabledir)


def test_a_first_start_has_nothing_to_discard(tmp_path: Path) -> None:
    assert not discard_unless_clean(tmp_path / "v1" / "tables")


@pytest.mark.integration
async def test_sigterm_leaves_the_marker_and_sigkill_does_not(pipeline: PipelineProcess) -> None:
    await pipeline.ensure_topics()
    tabledir = pipeline.cwd / pipeline.env["OPENPOOL_DATA_DIR"] / "v1" / "tables"
    port = free_port()
    env = {"OPENPOOL_WEB_PORT": str(port)}
    with pipeline.running("worker", log=pipeline.cwd / "worker.log", env=env) as worker:
        await wait_ready(port)
    assert worker.returncode == 0, (pipeline.cwd / "worker.log").read_text()[-2000:]
    assert (tabledir / CLEAN_SHUTDOWN_MARKER).exists()

    with pipeline.running("worker", log=pipeline.cwd / "worker.log", env=env) as worker:
        await wait_ready(port)
        assert not (tabledir / CLEAN_SHUTDOWN_MARKER).exists()
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert not (tabledir / CLEAN_SHUTDOWN_MARKER).exists()
