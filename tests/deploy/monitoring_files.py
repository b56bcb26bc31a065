"""The monitoring files in deploy/: the alert and recording rules, the Grafana dashboard, and the metric names
their PromQL reads."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.manifests import ROOT
from tests.deploy.promql_names import metric_names

PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules.yml"
BROKER_LAG_RULES = PROMETHEUS / "broker-lag-rules.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "openpool.json"


def rules(path: Path) -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def rule_metric_names(path: Path) -> set[str]:
    """Every metric name the rules of `path` read."""
    return set().union(*(metric_names(rule["expr"]) for rule in rules(path)))


def recorded(*paths: Path) -> set[str]:
    return {rule["record"] for path in paths for rule in rules(path) if "record" in rule}


def load_dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # panels of a collapsed row
    return panels


def panel_queries(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in all_panels(dashboard) for target in panel.get("targets", [])]


def variable_selectors(dashboard: dict[str, Any]) -> list[str]:
    """The series selectors of `label_values(selector, label)` variable queries (Grafana syntax, not PromQL)."""
    selectors = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
        assert match, f"unexpected variable query {query}"
        selectors.append(match.group(1))
    return selectors


def dashboard_names() -> set[str]:
    dashboard = load_dashboard()
    return set().union(*(metric_names(expr) for expr in panel_queries(dashboard) + variable_selectors(dashboard)))
