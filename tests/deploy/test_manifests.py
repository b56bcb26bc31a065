"""Every overlay renders, validates against the Kubernetes schemas, and keeps the rules the app depends on."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import jsonschema
import kubernetes_validate
import pytest

from openpool.settings import Settings
from tests.deploy.custom_resource_schemas import SCHEMAS
from tests.deploy.manifests import OVERLAYS, ROOT, Doc, Rendered, selects

# The oldest Kubernetes the manifests are written for (persistentVolumeClaimRetentionPolicy is GA from 1.32).
KUBERNETES_VERSION = "1.32"
SECRET_ENV_FROM_SECRETS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
SECRET_ENV_AS_FILES = {"ETH_PRIVATE_KEY", "ETH_KEYSTORE_PASSWORD"}

per_overlay = pytest.mark.parametrize("overlay", OVERLAYS)


def _settings_env_names() -> set[str]:
    names: set[str] = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        names.update(choice for choice in getattr(alias, "choices", []) if isinstance(choice, str))
    return names


def _secret_env_names() -> set[str]:
    return {
        choice
        for field in Settings.model_fields.values()
        if "SecretStr" in repr(field.annotation)
        for choice in getattr(field.validation_alias, "choices", [])
    }


def _env(container: Doc) -> dict[str, Doc]:
    return {item["name"]: item for item in container.get("env", [])}


@per_overlay
def test_every_resource_is_valid_against_its_schema(overlays: dict[str, Rendered], overlay: str) -> None:
    problems = []
    for doc in overlays[overlay].docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        custom = SCHEMAS.get((doc["apiVersion"], doc["kind"]))
        try:
            if custom is not None:
                jsonschema.Draft202012Validator(custom).validate(doc)
            else:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except jsonschema.ValidationError as error:
            problems.append(f"{where}: {'.'.join(map(str, error.absolute_path))}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{where}: no schema for {doc['apiVersion']} {doc['kind']}")
    assert not problems, "\n".join(problems)


@per_overlay
def test_settings_configmap_holds_only_settings_the_app_reads_and_no_secret(
    overlays: dict[str, Rendered], overlay: str
) -> None:
    data = overlays[overlay].settings_data()
    assert set(data) <= _settings_env_names(), f"unknown settings: {sorted(set(data) - _settings_env_names())}"
    assert not set(data) & _secret_env_names()
    overlays[overlay].settings()  # the values parse as the app parses them


@per_overlay
def test_no_secret_is_inlined(overlays: dict[str, Rendered], overlay: str) -> None:
    rendered = overlays[overlay]
    assert not rendered.of_kind("Secret"), "Secrets are created outside the repo"
    assert _secret_env_names() == SECRET_ENV_FROM_SECRETS | SECRET_ENV_AS_FILES, (
        "a new secret setting needs a rule here"
    )
    for workload in rendered.workloads():
        secret_volumes = {v["name"] for v in workload.pod_spec.get("volumes", []) if "secret" in v}
        for container in workload.containers:
            mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
            secret_dirs = [PurePosixPath(path) for name, path in mounts.items() if name in secret_volumes]
            for name, item in _env(container).items():
                if name in SECRET_ENV_FROM_SECRETS:
                    assert "secretKeyRef" in item.get("valueFrom", {}), f"{workload.name}: {name} not from a Secret"
                if name in SECRET_ENV_AS_FILES:
                    path = PurePosixPath(item["value"])
                    assert any(directory in path.parents for directory in secret_dirs), (
                        f"{workload.name}: {name} must name a file of a mounted Secret, not hold the value"
                    )


@per_overlay
def test_containers_run_unprivileged_from_a_pinned_image_with_bounded_resources(
    overlays: dict[str, Rendered], overlay: str
) -> None:
    for workload in overlays[overlay].workloads():
        pod_security = workload.pod_spec.get("securityContext", {})
        assert workload.pod_spec.get("automountServiceAccountToken") is False, workload.name
        for container in workload.containers:
            where = f"{workload.name}/{container['name']}"
            security = {**pod_security, **container.get("securityContext", {})}
            assert security.get("runAsNonRoot") is True and security.get("runAsUser", 0) != 0, where
            assert security.get("allowPrivilegeEscalation") is False, where
            assert security.get("readOnlyRootFilesystem") is True, where
            assert security.get("capabilities", {}).get("drop") == ["ALL"], where
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), f"{where}: unpinned {image}"
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container.get("resources", {}).get(bound, {})), f"{where}: {bound}"


@per_overlay
def test_long_running_processes_are_probed_on_healthz_and_readyz(overlays: dict[str, Rendered], overlay: str) -> None:
    for workload in overlays[overlay].workloads():
        if not workload.long_running:
            continue
        for container in workload.containers:
            where = f"{workload.name}/{container['name']}"
            paths = {
                kind: container[kind]["httpGet"]["path"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")
            }
            assert paths == {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}, (
                where
            )
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                port = container[kind]["httpGet"]["port"]
                assert workload.port(container, port) is not None, f"{where}: {kind} names no port {port}"
            # Liveness gives a blocked loop more time than readiness needs to take the pod out of service.
            assert container["livenessProbe"]["failureThreshold"] > container["readinessProbe"]["failureThreshold"]
        grace = workload.pod_spec.get("terminationGracePeriodSeconds", 30)
        assert grace >= 60, f"{workload.name}: {grace}s is too short to commit and leave the group"


@per_overlay
def test_ports_and_data_dir_are_the_ones_the_settings_name(overlays: dict[str, Rendered], overlay: str) -> None:
    rendered = overlays[overlay]
    settings = rendered.settings()
    for workload in rendered.workloads():
        for container in workload.containers:
            assert workload.port(container, "metrics") in (None, settings.metrics_port), workload.name
            assert workload.port(container, "http") in (None, settings.web_port), workload.name
    workers = rendered.workload("StatefulSet", "openpool-stream-workers")
    (worker,) = workers.containers
    assert workers.port(worker, "http") == settings.web_port
    assert workers.port(worker, "metrics") == settings.metrics_port
    claims = {claim["metadata"]["name"] for claim in workers.doc["spec"]["volumeClaimTemplates"]}
    mounts = {m["name"]: PurePosixPath(m["mountPath"]) for m in worker["volumeMounts"]}
    data_dir = PurePosixPath(str(settings.data_dir))
    assert any(mounts[name] == data_dir or mounts[name] in data_dir.parents for name in claims & set(mounts)), (
        f"OPENPOOL_DATA_DIR {data_dir} is not on the worker's PersistentVolume"
    )


@per_overlay
def test_every_stream_worker_can_own_a_partition(overlays: dict[str, Rendered], overlay: str) -> None:
    rendered = overlays[overlay]
    settings = rendered.settings()
    workers = rendered.workload("StatefulSet", "openpool-stream-workers")
    assert 1 <= workers.replicas <= min(settings.events_partitions, settings.worker_partitions)
    assert workers.doc["spec"]["serviceName"] in {svc["metadata"]["name"] for svc in rendered.of_kind("Service")}


@per_overlay
def test_the_payer_never_runs_twice(overlays: dict[str, Rendered], overlay: str) -> None:
    rendered = overlays[overlay]
    payer = rendered.workload("Deployment", "openpool-payer")
    assert payer.replicas == 1
    assert payer.doc["spec"]["strategy"] == {"type": "Recreate"}
    assert not rendered.of_kind("HorizontalPodAutoscaler")
    runs_payments = [
        w.name for w in rendered.workloads() for c in w.containers if c.get("args", [None])[0] == "payments"
    ]
    assert runs_payments == ["openpool-payer"]
    mounts_key = [
        w.name
        for w in rendered.workloads()
        for v in w.pod_spec.get("volumes", [])
        if v.get("secret", {}).get("secretName") == "openpool-payer-key"
    ]
    assert mounts_key == ["openpool-payer"], "only the payer holds the key"


@per_overlay
def test_disruption_budgets_cover_every_process_and_never_block_a_drain(
    overlays: dict[str, Rendered], overlay: str
) -> None:
    rendered = overlays[overlay]
    budgets = rendered.of_kind("PodDisruptionBudget")
    for workload in rendered.workloads():
        if not workload.long_running:
            continue
        matching = [b for b in budgets if selects(b["spec"]["selector"], workload.pod_labels)]
        assert len(matching) == 1, f"{workload.name}: {len(matching)} budgets"
        spec = matching[0]["spec"]
        assert spec.get("maxUnavailable", 0) >= 1 and "minAvailable" not in spec, workload.name


@per_overlay
def test_every_process_is_scraped_on_its_metrics_port(overlays: dict[str, Rendered], overlay: str) -> None:
    rendered = overlays[overlay]
    services = rendered.of_kind("Service")
    for workload in rendered.workloads():
        if not workload.long_running:
            continue
        scraped = []
        for monitor in rendered.of_kind("PodMonitor"):
            if selects(monitor["spec"]["selector"], workload.pod_labels):
                scraped += [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]]
        for monitor in rendered.of_kind("ServiceMonitor"):
            for service in services:
                if selects(monitor["spec"]["selector"], service["metadata"].get("labels", {})) and selects(
                    {"matchLabels": service["spec"].get("selector", {})}, workload.pod_labels
                ):
                    ports = {p["name"]: p["targetPort"] for p in service["spec"]["ports"]}
                    scraped += [ports[e["port"]] for e in monitor["spec"]["endpoints"] if e["port"] in ports]
        assert scraped == ["metrics"], f"{workload.name} is scraped on {scraped}"
        assert all(workload.port(c, "metrics") for c in workload.containers), workload.name


@per_overlay
def test_network_policies_cover_every_pod_and_let_it_reach_kafka(overlays: dict[str, Rendered], overlay: str) -> None:
    rendered = overlays[overlay]
    policies = rendered.of_kind("NetworkPolicy")
    kafka_port = int(rendered.settings().kafka_bootstrap_servers.split(",")[0].rsplit(":", 1)[1])
    for workload in rendered.workloads():
        applying = [p["spec"] for p in policies if selects(p["spec"]["podSelector"], workload.pod_labels)]
        types = {t for spec in applying for t in spec["policyTypes"]}
        assert types == {"Ingress", "Egress"}, f"{workload.name}: not isolated ({types})"
        egress_ports = {
            port.get("port") for spec in applying for rule in spec.get("egress", []) for port in rule.get("ports", [])
        }
        assert {53, kafka_port} <= egress_ports, f"{workload.name}: egress ports {egress_ports}"


@per_overlay
def test_topic_replication_follows_the_settings_and_prod_keeps_two_in_sync(
    overlays: dict[str, Rendered], overlay: str
) -> None:
    rendered = overlays[overlay]
    settings = rendered.settings()
    for topic in rendered.of_kind("KafkaTopic"):
        assert topic["spec"]["replicas"] == settings.topic_replication_factor, topic["metadata"]["name"]
        if overlay.startswith("prod"):
            assert topic["spec"]["replicas"] == 3
            assert str(topic["spec"]["config"]["min.insync.replicas"]) == "2", topic["metadata"]["name"]


@per_overlay
def test_replay_job_only_in_replay_overlays_and_never_pays(overlays: dict[str, Rendered], overlay: str) -> None:
    rendered = overlays[overlay]
    jobs = [w for w in rendered.workloads() if w.kind == "Job"]
    if not overlay.endswith("-replay"):
        assert not jobs, "a Job in a deployment overlay would run on every apply"
        return
    (job,) = jobs
    assert job.pod_labels["app.kubernetes.io/component"] == "replay"
    assert job.doc["spec"]["backoffLimit"] == 0
    assert job.pod_spec["restartPolicy"] == "Never"
    (container,) = job.containers
    assert container["args"][0] == "replay"
    assert _env(container)["OPENPOOL_PAYOUTS_ENABLED"]["value"] == "false"
    workers = rendered.workload("StatefulSet", "openpool-stream-workers")
    (worker,) = workers.containers
    assert container["image"] == worker["image"], "the replay runs the deployed image"
    assert container["envFrom"] == worker["envFrom"], "the replay reads the deployed settings"
    namespaces = {doc["metadata"].get("namespace") for doc in rendered.docs}
    assert len(namespaces) == 1 and None not in namespaces


@pytest.mark.parametrize("overlay", [name for name in OVERLAYS if name.endswith("-replay")])
def test_replay_overlays_add_only_the_job_to_their_deployment(overlays: dict[str, Rendered], overlay: str) -> None:
    base = overlays[overlay.removesuffix("-replay")]
    replay = overlays[overlay]
    assert [d for d in replay.docs if d["kind"] != "Job"] == base.docs


def _quantity(value: str | int) -> float:
    """A Kubernetes CPU (cores) or memory (MiB) quantity, in the forms our manifests use."""
    text = str(value)
    units = {"m": 1e-3, "Mi": 1.0, "Gi": 1024.0}
    for suffix, scale in units.items():
        if text.endswith(suffix):
            return float(text.removesuffix(suffix)) * scale
    return float(text)


def test_production_resources_cover_the_measured_peaks(overlays: dict[str, Rendered]) -> None:
    """Requests at least the measured peak of what a pod always goes through, limits above every peak
    (docs/resources.md; bench/footprint.json is written by `python -m openpool.bench.footprint`)."""
    measured = json.loads((ROOT / "bench" / "footprint.json").read_text())["processes"]
    peaks = {
        ("StatefulSet", "openpool-stream-workers"): [measured["worker"], measured["worker_restoring"]],
        ("Deployment", "openpool-bridge"): [measured["bridge"]],
        ("Deployment", "openpool-payer"): [measured["payer"]],
    }
    for (kind, name), figures in peaks.items():
        (container,) = overlays["prod"].workload(kind, name).containers
        requests, limits = container["resources"]["requests"], container["resources"]["limits"]
        peak_mib = max(f["peak_rss_mib"] for f in figures)
        peak_cores = max(f["peak_cores"] for f in figures)
        assert _quantity(requests["memory"]) >= peak_mib, name
        assert _quantity(limits["memory"]) >= 1.5 * peak_mib, name
        assert _quantity(limits["cpu"]) >= peak_cores, name
        assert _quantity(requests["cpu"]) >= max(f["mean_cores"] for f in figures), name
