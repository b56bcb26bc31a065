"""A taken port stops a process at start, before it connects to Kafka: one line naming the variable and the port,
exit 2.

The processes get a Kafka and an S3 where nothing listens: one that got past its ports would hang or fail
there, with another exit code and other lines.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from openpool.ports import PortTaken, check_free
from tests.pipeline_process import PipelineProcess
from tests.stream_app.pipeline import pipeline_env

NOTHING_LISTENS = "127.0.0.1:9"


@contextmanager
def _held() -> Iterator[int]:
    """A port another server listens on."""
    with socket.create_server(("127.0.0.1", 0)) as holder:
        yield int(holder.getsockname()[1])


def _unreachable_pipeline(cwd: Path) -> PipelineProcess:
    return PipelineProcess(pipeline_env("t-port-taken", NOTHING_LISTENS, f"http://{NOTHING_LISTENS}"), cwd)


def test_a_port_another_server_listens_on_is_taken_naming_the_variable() -> None:
    with _held() as port, pytest.raises(PortTaken) as taken:
        check_free("OPENPOOL_WEB_PORT", port, host="0.0.0.0")
    assert str(taken.value) == f"OPENPOOL_WEB_PORT={port} is taken (address already in use)"


def test_checking_a_free_port_leaves_it_free() -> None:
    with _held() as port:
        pass
    check_free("OPENPOOL_WEB_PORT", port, host="0.0.0.0")
    with socket.create_server(("0.0.0.0", port)):
        pass


@pytest.mark.parametrize(
    ("command", "variable"),
    [
        (("worker",), "OPENPOOL_METRICS_PORT"),
        (("worker",), "OPENPOOL_WEB_PORT"),
        (("run",), "OPENPOOL_METRICS_PORT"),
        (("run",), "OPENPOOL_WEB_PORT"),
        (("bridge",), "OPENPOOL_METRICS_PORT"),
        (("payments", "run"), "OPENPOOL_METRICS_PORT"),
    ],
)
def test_a_taken_port_stops_the_process_at_start_with_one_line(
    tmp_path: Path, command: tuple[str, ...], variable: str
) -> None:
    with _held() as port:
        done = _unreachable_pipeline(tmp_path).openpool(*command, env={variable: str(port)}, timeout=60)
    assert (done.returncode, done.stderr.splitlines()) == (
        2,
        [f"openpool {command[0]}: {variable}={port} is taken (address already in use)"],
    ), done.stderr[-3000:]


def test_the_bridge_names_its_option_when_the_port_came_from_it(tmp_path: Path) -> None:
    with _held() as port:
        done = _unreachable_pipeline(tmp_path).openpool("bridge", "--metrics-port", str(port), timeout=60)
    assert (done.returncode, done.stderr.splitlines()) == (
        2,
        [f"openpool bridge: --metrics-port={port} is taken (address already in use)"],
    ), done.stderr[-3000:]
