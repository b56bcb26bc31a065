from __future__ import annotations

import subprocess
from dataclasses import dataclass

import pytest

from tests.deploy.manifests import OVERLAYS, ROOT, Rendered, render


@dataclass(frozen=True)
class DeployTools:
    promtool: str
    prometheus: str
    kustomize: tuple[str, ...]


@pytest.fixture(scope="session")
def deploy_tools() -> DeployTools:
    """promtool, the Prometheus server and a kustomize renderer, installed by the script `make test` runs when
    missing."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "ensure-deploy-tools")], capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, f"scripts/ensure-deploy-tools failed:\n{result.stderr[-4000:]}"
    found = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return DeployTools(
        promtool=found["promtool"], prometheus=found["prometheus"], kustomize=tuple(found["kustomize"].split())
    )


@pytest.fixture(scope="session")
def overlays(deploy_tools: DeployTools) -> dict[str, Rendered]:
    return {overlay: render(deploy_tools.kustomize, overlay) for overlay in OVERLAYS}
