"""Every topic the code declares has a KafkaTopic with the same partitions and configs, in every overlay.

The code's topics: openpool/topics.py (owned_topics) and the topics Faust creates for the stream app: one
changelog per table, the leader-election topic, and any internal agent topic. Where both declare a topic,
both must match the KafkaTopic. Each is computed from the settings the overlay's ConfigMap gives, so a
partition count changed in one place and not the other fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from faust.transport.drivers.aiokafka import Transport

from openpool.settings import Settings
from openpool.topics import owned_topics
from stream_app.worker import build
from tests.deploy.manifests import K8S, OVERLAYS, Rendered

# What a topic created without cleanup.policy gets: the broker's default, which the KafkaTopic states.
BROKER_DEFAULT_CONFIG = {"cleanup.policy": "delete"}


@dataclass(frozen=True)
class DeclaredTopic:
    name: str
    partitions: int
    configs: dict[str, str]
    declared_by: str


def _faust_configs(topic: Any) -> dict[str, str]:
    # Faust's own translation of a topic's compacting/deleting/retention flags into topic configs.
    configs = Transport._topic_config(None, topic.retention, topic.compacting, topic.deleting)  # type: ignore[arg-type]
    return {key: str(value) for key, value in {**BROKER_DEFAULT_CONFIG, **configs, **(topic.config or {})}.items()}


def declared_topics(settings: Settings) -> dict[str, list[DeclaredTopic]]:
    """Each topic with every declaration of it: openpool/topics.py may also declare a topic Faust creates."""
    declarations = [
        DeclaredTopic(spec.name, spec.partitions, spec.kafka_configs(), "openpool/topics.py")
        for spec in owned_topics(settings)
    ]
    stream_app, _ = build(settings)
    app = stream_app.app
    faust_topics = [(table.changelog_topic, f"Faust table {name}") for name, table in app.tables.items()]
    assert not app.conf.topic_disable_leader
    faust_topics.append((app._leader_assignor._leader_topic, "Faust's leader assignor"))
    for agent in app.agents.values():
        channel = agent.channel
        if getattr(channel, "internal", False):
            faust_topics.append((channel, f"Faust agent {agent.name}"))
    for topic, owner in faust_topics:
        (name,) = topic.topics
        declarations.append(DeclaredTopic(name, topic.partitions, _faust_configs(topic), owner))
    declared: dict[str, list[DeclaredTopic]] = {}
    for declaration in declarations:
        declared.setdefault(declaration.name, []).append(declaration)
    return declared


def _kafka_topics(rendered: Rendered) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for doc in rendered.of_kind("KafkaTopic"):
        name = doc["spec"].get("topicName", doc["metadata"]["name"])
        assert name not in found, f"two KafkaTopics for {name}"
        found[name] = doc["spec"]
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_declared_topic_has_a_kafka_topic_with_its_partitions_and_configs(
    overlays: dict[str, Rendered], overlay: str
) -> None:
    settings = overlays[overlay].settings()
    declared = declared_topics(settings)
    manifests = _kafka_topics(overlays[overlay])

    assert sorted(declared) == sorted(manifests), "KafkaTopics and the code's topics differ"
    for name, declarations in declared.items():
        spec = manifests[name]
        stated = {key: str(value) for key, value in spec.get("config", {}).items()}
        for topic in declarations:
            assert spec["partitions"] == topic.partitions, f"{name} ({topic.declared_by})"
            differing = {k: (v, stated.get(k)) for k, v in topic.configs.items() if stated.get(k) != v}
            assert not differing, f"{name} ({topic.declared_by}): code vs KafkaTopic {differing}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_topics_belong_to_one_strimzi_cluster(overlays: dict[str, Rendered], overlay: str) -> None:
    clusters = {doc["metadata"]["labels"]["strimzi.io/cluster"] for doc in overlays[overlay].of_kind("KafkaTopic")}
    bootstrap = overlays[overlay].settings().kafka_bootstrap_servers
    assert len(clusters) == 1
    # Strimzi names the bootstrap Service of cluster C `C-kafka-bootstrap`.
    assert bootstrap.startswith(f"{clusters.pop()}-kafka-bootstrap"), bootstrap


def test_readme_creates_the_prod_topics_without_strimzi(overlays: dict[str, Rendered]) -> None:
    readme = (K8S / "README.md").read_text()
    created = {}
    for match in re.finditer(r"^create --topic (\S+) --partitions (\d+)((?: --config \S+)*)$", readme, re.MULTILINE):
        configs = dict(item.split("=", 1) for item in match.group(3).split(" --config ")[1:])
        created[match.group(1)] = (int(match.group(2)), configs)
    assert "--replication-factor 3 --config min.insync.replicas=2" in readme
    expected = {}
    for name, spec in _kafka_topics(overlays["prod"]).items():
        configs = {key: str(value) for key, value in spec["config"].items() if key != "min.insync.replicas"}
        expected[name] = (spec["partitions"], configs)
    assert created == expected
