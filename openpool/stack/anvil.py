"""An Ethereum node for the local stack: foundry's anvil from npm, answering as Arbitrum One (42161)."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from openpool.stack.errors import StackInstallError

ANVIL_PACKAGE = "@foundry-rs/anvil"
ANVIL_VERSION = "1.7.1"
CHAIN_ID = 42161


def install_anvil(tools_dir: Path) -> Path:
    """npm-install anvil into `<tools_dir>/anvil` unless that version is there; return its binary."""
    folder = tools_dir / "anvil"
    binary = _binary(folder)
    if binary is not None and _installed_version(folder) == ANVIL_VERSION:
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise StackInstallError("npm is needed to install anvil: apt-get install nodejs npm (Node 18+)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text(
        json.dumps({"private": True, "description": "anvil for openpool's local stack"}) + "\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--save-exact",
            "--loglevel=error",
            f"{ANVIL_PACKAGE}@{ANVIL_VERSION}",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        raise StackInstallError("npm could not install anvil:\n" + "\n".join(output[-30:]))
    binary = _binary(folder)
    if binary is None:
        # The binary comes as an optional, per-platform dependency (anvil-linux-amd64, ...).
        raise StackInstallError(f"npm installed {ANVIL_PACKAGE} but no anvil binary for this platform")
    return binary


def _binary(folder: Path) -> Path | None:
    for candidate in sorted(folder.glob("node_modules/@foundry-rs/anvil-*/bin/anvil")):
        if candidate.is_file():
            return candidate
    return None


def _installed_version(folder: Path) -> str | None:
    manifest = folder / "node_modules" / "@foundry-rs" / "anvil" / "package.json"
    try:
        version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        return None
    return version if isinstance(version, str) else None


class AnvilNode:
    """Without `--state`, every start is a fresh chain whose ten dev accounts hold 10,000 ETH each."""

    name = "anvil"

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port,)

    def command(self, binary: Path) -> list[str]:
        return [
            str(binary),
            "--chain-id",
            str(CHAIN_ID),
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]

    def answers(self, timeout: float = 2.0) -> bool:
        """The node answers eth_chainId with Arbitrum One's id."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
        request = urllib.request.Request(
            self.endpoint, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                reply = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return isinstance(reply, dict) and reply.get("result") == hex(CHAIN_ID)
