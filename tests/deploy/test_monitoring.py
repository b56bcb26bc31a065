"""Alert rules and the dashboard: they parse, their alerts behave, and they read only metrics that exist."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from openpool import metrics
from tests.deploy.conftest import DeployTools
from tests.deploy.manifests import K8S, OVERLAYS, ROOT, Rendered
from tests.deploy.monitoring_files import (
    BROKER_LAG_RULES,
    PROMETHEUS,
    RULES,
    all_panels,
    dashboard_names,
    load_dashboard,
    panel_queries,
    recorded,
    rule_metric_names,
    rules,
    variable_selectors,
)
from tests.deploy.promql_names import exposed_names, metric_names

# The only broker-exporter series we read, and only in broker-lag-rules.yml (docs/metrics.md).
BROKER_EXPORTER_NAMES = {"kafka_consumergroup_lag", "kminion_kafka_consumer_group_topic_partition_lag"}
# The recovery metrics the dashboard's Recovery row reads.
RECOVERY_METRICS = {"openpool_table_recovery_in_progress", "openpool_rebalances_total", "openpool_table_keys"}
# Grafana's variables, replaced by values that make each query plain PromQL for promtool.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$consumer_group": ".*", "$topic": ".*"}


def _plain_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unreplaced Grafana variable in {expr}"
    return expr


def _promtool(tools: DeployTools, *args: str, cwd: Path = PROMETHEUS) -> str:
    result = subprocess.run([tools.promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_promql_metric_names_are_found_past_functions_labels_ranges_and_keywords() -> None:
    expr = (
        'sum by (stage) (rate(a_total{reason=~"b(c)"}[5m] offset 1h)) > 1e17 '
        "and on (stage) max_over_time(b:rec[30m:1m]) unless c @ 1700000000 or vector(0)"
    )
    assert metric_names(expr) == {"a_total", "b:rec", "c"}


def test_rule_files_pass_promtool_check(deploy_tools: DeployTools) -> None:
    output = _promtool(deploy_tools, "check", "rules", RULES.name, BROKER_LAG_RULES.name)
    assert output.count("SUCCESS") == 2


def test_alerts_fire_as_their_unit_tests_expect(deploy_tools: DeployTools) -> None:
    assert "SUCCESS" in _promtool(deploy_tools, "test", "rules", "rules_test.yml")


def test_every_alert_has_a_unit_test() -> None:
    tested = {
        case["alertname"]
        for test in yaml.safe_load((PROMETHEUS / "rules_test.yml").read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    alerts = {rule["alert"] for rule in rules(RULES) if "alert" in rule}
    assert alerts == tested


def test_alerts_cover_lag_wal_payer_dead_letters_and_wallet() -> None:
    used = {rule["alert"]: metric_names(rule["expr"]) for rule in rules(RULES) if "alert" in rule}
    assert "openpool_consumer_lag_seconds" in used["OpenPoolConsumerTimeLagHigh"]
    assert "openpool:consumer_lag_records:sum" in used["OpenPoolConsumerLagGrowing"]
    assert "deriv(" in next(r["expr"] for r in rules(RULES) if r.get("alert") == "OpenPoolConsumerLagGrowing")
    assert used["OpenPoolPayoutStuck"] == {"openpool_payout_oldest_open_age_seconds"}
    assert used["OpenPoolPayerHalted"] == {"openpool_payer_halted"}
    assert used["OpenPoolDeadLetters"] == {"openpool_dead_letters_total"}
    assert used["OpenPoolWalletBalanceLow"] == {"openpool_payer_balance_wei"}


def test_rules_read_only_metrics_the_app_exposes() -> None:
    known = exposed_names([metrics]) | recorded(RULES)
    used = rule_metric_names(RULES)
    assert used <= known, f"not exposed by openpool/metrics.py: {sorted(used - known)}"


def test_broker_lag_rules_read_only_the_listed_exporter_metrics() -> None:
    used = rule_metric_names(BROKER_LAG_RULES)
    assert used == BROKER_EXPORTER_NAMES


def test_consumer_lag_metrics_carry_the_labels_broker_exporters_are_mapped_to() -> None:
    for gauge in (metrics.CONSUMER_LAG_RECORDS, metrics.CONSUMER_LAG_SECONDS):
        assert gauge._labelnames == ("consumer_group", "topic", "partition")


def test_prometheus_rule_carries_the_rules_file() -> None:
    documents = [d for d in yaml.safe_load_all((K8S / "base" / "prometheus-rule.yaml").read_text()) if d]
    (rule,) = documents
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"], (
        "run `.venv/bin/python scripts/render-prometheus-rule` after editing deploy/prometheus/rules.yml"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_deploys_the_rules(overlays: dict[str, Rendered], overlay: str) -> None:
    (rule,) = overlays[overlay].of_kind("PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


def test_dashboard_queries_parse(deploy_tools: DeployTools, tmp_path: Path) -> None:
    dashboard = load_dashboard()
    queries = [_plain_promql(expr) for expr in panel_queries(dashboard) + variable_selectors(dashboard)]
    as_rules = {
        "groups": [{"name": "dashboard", "rules": [{"record": f"q:{i}", "expr": q} for i, q in enumerate(queries)]}]
    }
    (tmp_path / "dashboard-queries.yml").write_text(yaml.safe_dump(as_rules))
    assert "SUCCESS" in _promtool(deploy_tools, "check", "rules", "dashboard-queries.yml", cwd=tmp_path)


def test_dashboard_queries_use_only_metrics_the_app_exposes() -> None:
    known = exposed_names([metrics]) | recorded(RULES, BROKER_LAG_RULES)
    unknown = dashboard_names() - known
    assert not unknown, f"not exposed by openpool/metrics.py nor recorded by our rules: {sorted(unknown)}"


def test_recovery_metrics_the_dashboard_reads_are_defined() -> None:
    assert exposed_names([metrics]) >= RECOVERY_METRICS


def test_dashboard_shows_lag_throughput_dead_letters_recovery_payouts_and_wallet() -> None:
    dashboard = load_dashboard()
    by_row: dict[str, set[str]] = {}
    row = ""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            row = panel["title"]
            continue
        for target in panel.get("targets", []):
            by_row.setdefault(row, set()).update(metric_names(target["expr"]))
    assert {"openpool_consumer_lag_seconds", "openpool_consumer_lag_records"} <= by_row["Consumer lag"]
    assert "openpool_stream_events_total" in by_row["Throughput"]
    assert "openpool_dead_letters_total" in by_row["Dead letters"]
    assert "openpool_table_recovery_in_progress" in by_row["Recovery"]
    assert {"openpool_payouts", "openpool_payout_oldest_open_age_seconds", "openpool_payer_halted"} <= by_row[
        "Payouts and WAL"
    ]
    assert "openpool_payer_balance_wei" in by_row["Wallet"]
    per_partition = [
        expr for expr in panel_queries(dashboard) if "partition" in expr and "openpool_consumer_lag_" in expr
    ]
    assert {m for expr in per_partition for m in metric_names(expr)} >= {
        "openpool_consumer_lag_seconds",
        "openpool_consumer_lag_records",
    }


def test_dashboard_panels_have_unique_ids_and_use_the_datasource_variable() -> None:
    panels = all_panels(load_dashboard())
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]


def test_metrics_doc_shows_the_broker_lag_rules_as_they_are() -> None:
    doc = (ROOT / "docs" / "metrics.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", doc, re.DOTALL)
    assert block, "docs/metrics.md lost its recording rules"
    assert yaml.safe_load(block.group(1)) == rules(BROKER_LAG_RULES)
