"""`openpool stack up / status / down` as a developer runs them, on a stack of its own (other dir and ports)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from openpool.stack.keystore import DEV_ACCOUNT_KEY
from openpool.stack.processes import port_is_open

pytestmark = pytest.mark.integration

# Below Linux's ephemeral range (32768-60999): a port in it can be taken at any moment as the local end of
# some client connection, and then the service cannot bind it.
PORTS = {
    "OPENPOOL_STACK_KAFKA_PORT": "31092",
    "OPENPOOL_STACK_KAFKA_CONTROLLER_PORT": "31093",
    "OPENPOOL_STACK_S3_PORT": "31020",
    "OPENPOOL_STACK_ANVIL_PORT": "31545",
}
OPENPOOL = str(Path(sys.executable).with_name("openpool"))
TOOLS_DIR = Path(__file__).resolve().parents[2] / ".openpool" / "tools"


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    stack_dir = tmp_path / "stack"
    yield stack_dir
    # Whatever the test did, leave no service behind.
    subprocess.run([OPENPOOL, "stack", "down", "--stack-dir", str(stack_dir)], capture_output=True, check=False)


def _stack(*args: str, stack_dir: Path, env_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [OPENPOOL, "stack", *args, "--stack-dir", str(stack_dir)]
    if args[0] == "up":
        command += ["--tools-dir", str(TOOLS_DIR), "--env-file", str(env_file)]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **PORTS}, timeout=180)


def _pids(status_output: str) -> dict[str, int]:
    return {name: int(pid) for name, pid in re.findall(r"^(\w+)\s+running\s+pid=(\d+)", status_output, re.MULTILINE)}


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"  # a zombie has exited; only its exit status is left


@pytest.mark.slow
def test_up_twice_starts_once_and_down_leaves_no_process(stack_dir: Path, tmp_path: Path) -> None:
    env_file = tmp_path / "stack.env"

    first = _stack("up", stack_dir=stack_dir, env_file=env_file)
    assert first.returncode == 0, first.stderr
    settings = dict(line.split("=", 1) for line in first.stdout.splitlines())
    assert settings["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:31092"
    assert settings["S3_ENDPOINT"] == "http://127.0.0.1:31020"
    assert settings["ETH_RPC_ENDPOINT"] == "http://127.0.0.1:31545"
    assert settings["CHAIN_ID"] == "42161"
    assert Path(settings["ETH_PRIVATE_KEY"]).is_file()
    password = Path(settings["ETH_KEYSTORE_PASSWORD"]).read_text(encoding="utf-8").strip()
    assert env_file.read_text(encoding="utf-8").endswith(first.stdout)
    for output in (first.stdout, first.stderr, env_file.read_text(encoding="utf-8")):
        assert DEV_ACCOUNT_KEY[2:] not in output
        assert password not in output
    for service in ("kafka", "s3", "anvil"):
        assert re.search(rf"{service} answers on \S+ after [\d.]+ s", first.stderr), first.stderr

    status = _stack("status", stack_dir=stack_dir)
    assert status.returncode == 0, status.stdout
    pids = _pids(status.stdout)
    assert sorted(pids) == ["anvil", "kafka", "s3"]
    assert status.stdout.count("answers=yes") == 3

    second = _stack("up", stack_dir=stack_dir, env_file=env_file)
    assert second.returncode == 0, second.stderr
    assert "nothing started" in second.stderr
    assert second.stdout == first.stdout
    assert _pids(_stack("status", stack_dir=stack_dir).stdout) == pids

    down = _stack("down", stack_dir=stack_dir)
    assert down.returncode == 0, down.stderr
    for name, pid in pids.items():
        assert not _running(pid), f"{name} (pid {pid}) still runs after down"
    for port in PORTS.values():
        assert not port_is_open("127.0.0.1", int(port))

    after = _stack("status", stack_dir=stack_dir)
    assert after.returncode == 1
    assert after.stdout.count("stopped") == 3
    again = _stack("down", stack_dir=stack_dir)
    assert again.returncode == 0
    assert "nothing was running" in again.stderr
