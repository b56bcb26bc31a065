"""The rendered Kubernetes manifests of one overlay, and the app settings its ConfigMap gives."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from openpool.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(path.name for path in (K8S / "overlays").iterdir() if (path / "kustomization.yaml").is_file())
SETTINGS_CONFIGMAP = "openpool-settings"

Doc = dict[str, Any]


class ManifestSettings(Settings):
    """The settings a pod gets from the ConfigMap alone: no process environment, no stack env file."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@dataclass(frozen=True)
class Workload:
    """A Deployment, StatefulSet or Job, seen through its pod template."""

    doc: Doc

    @property
    def kind(self) -> str:
        return str(self.doc["kind"])

    @property
    def name(self) -> str:
        return str(self.doc["metadata"]["name"])

    @property
    def replicas(self) -> int:
        return int(self.doc["spec"].get("replicas", 1))

    @property
    def pod_labels(self) -> dict[str, str]:
        return dict(self.doc["spec"]["template"]["metadata"]["labels"])

    @property
    def pod_spec(self) -> Doc:
        return dict(self.doc["spec"]["template"]["spec"])

    @property
    def containers(self) -> list[Doc]:
        return list(self.pod_spec["containers"])

    @property
    def long_running(self) -> bool:
        return self.kind in {"Deployment", "StatefulSet"}

    def port(self, container: Doc, name: str) -> int | None:
        for port in container.get("ports", []):
            if port.get("name") == name:
                return int(port["containerPort"])
        return None


@dataclass(frozen=True)
class Rendered:
    overlay: str
    docs: list[Doc] = field(repr=False)

    def of_kind(self, kind: str) -> list[Doc]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def one(self, kind: str, name: str) -> Doc:
        found = [doc for doc in self.of_kind(kind) if doc["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.overlay}: expected one {kind} {name}, found {len(found)}"
        return found[0]

    def workloads(self) -> Iterator[Workload]:
        for doc in self.docs:
            if doc["kind"] in {"Deployment", "StatefulSet", "Job"}:
                yield Workload(doc)

    def workload(self, kind: str, name: str) -> Workload:
        return Workload(self.one(kind, name))

    def settings_data(self) -> dict[str, str]:
        maps = [doc for doc in self.of_kind("ConfigMap") if doc["metadata"]["name"].startswith(SETTINGS_CONFIGMAP)]
        assert len(maps) == 1, f"{self.overlay}: expected one settings ConfigMap, found {len(maps)}"
        return dict(maps[0]["data"])

    def settings(self) -> Settings:
        return ManifestSettings(**cast(dict[str, Any], self.settings_data()))


def render(kustomize: tuple[str, ...], overlay: str) -> Rendered:
    result = subprocess.run(
        [*kustomize, str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"kustomize failed for {overlay}:\n{result.stderr}"
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return Rendered(overlay, docs)


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a label selector (matchLabels only, as ours are) selects these labels."""
    assert set(selector) <= {"matchLabels"}, f"selector form not handled here: {selector}"
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())
