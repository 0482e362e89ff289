"""deploy/'s Prometheus, alert and Grafana files and the compose profile that runs them: valid,
pointed at the services as docker-compose.yml names them, and speaking only of metrics the
code defines."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
SERVICES = ("intake", "dispatch", "notify", "reporting")
OBSERVABILITY = ("prometheus", "grafana", "jaeger")
# Sampled from the broker's admin API by reporting's operations console
# (services/reporting/console), under these agreed names; allowed by name until it defines them.
BROKER_SAMPLED = frozenset({"jiesu_topic_end_offset", "jiesu_group_lag", "jiesu_dlq_depth"})
# The names agreed for every service process (README, "Metrics and alerts").
AGREED = frozenset(
    {
        "jiesu_http_requests_total",
        "jiesu_http_request_duration_seconds_bucket",
        "jiesu_consumer_lag",
        "jiesu_handler_duration_seconds_bucket",
        "jiesu_relay_behind_events",
        "jiesu_relay_delay_seconds",
        "jiesu_timers_due",
        "jiesu_timers_late_seconds",
        "jiesu_notify_backlog",
    }
)
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]{3,}")
METRIC = re.compile(r"\bjiesu_[a-z0-9_]+")
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": (),
}


def chinese_then_english(text: str) -> bool:
    """Chinese words, and English after the last of them."""
    chinese = [m.end() for m in CJK.finditer(text)]
    return bool(chinese) and LATIN.search(text, chinese[-1]) is not None


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(REPO / "docker-compose.yml")
    return loaded


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (DEPLOY / "grafana" / "dashboards" / "jiesu-ops.json").read_text(encoding="utf-8")
    )
    return loaded


def alert_rules() -> list[dict[str, Any]]:
    groups = load_yaml(DEPLOY / "prometheus" / "alerts.yml")["groups"]
    return [rule for group in groups for rule in group["rules"]]


def defined_metrics() -> set[str]:
    """Every series name the services' code can expose (each service's modules imported)."""
    for service in SERVICES:
        importlib.import_module(f"services.{service}.main")
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ()))
    return names


def dashboard_queries() -> list[str]:
    return [
        target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])
    ]


def test_prometheus_scrapes_each_service_where_compose_runs_it_with_that_services_key() -> None:
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    services = compose()["services"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    granted = set(services["prometheus"]["secrets"])
    for service in SERVICES:
        [port_mapping] = services[service]["ports"]
        port = port_mapping.split(":")[-1]
        [targets] = jobs[service]["static_configs"]
        assert targets["targets"] == [f"{service}:{port}"]
        credentials = jobs[service]["authorization"]["credentials_file"]
        assert credentials == f"/run/secrets/{service}_metrics_key"
        assert f"{service}_metrics_key" in granted
        assert f"{service}_metrics_key" in compose()["secrets"]
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    mounted = services["prometheus"]["volumes"]
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounted


def test_every_alert_says_what_and_why_in_chinese_then_english() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert rule["expr"].strip() and rule["for"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        for text in (rule["annotations"]["summary"], rule["annotations"]["description"]):
            assert chinese_then_english(text), rule["alert"]


@pytest.mark.parametrize(
    "alarm",
    [
        "jiesu_group_lag",
        "jiesu_consumer_lag",
        "jiesu_relay_delay_seconds",
        "jiesu_dlq_depth",
        "jiesu_notify_backlog",
        "jiesu_timers_late_seconds",
        'up{job=~"intake|dispatch|notify|reporting"}',
        'jiesu_http_requests_total{status=~"5.."}',
    ],
)
def test_each_alarm_the_console_raises_has_a_rule(alarm: str) -> None:
    assert any(alarm in rule["expr"] for rule in alert_rules())


def test_alerts_and_dashboard_use_only_metrics_the_code_defines() -> None:
    used = {
        name
        for query in [rule["expr"] for rule in alert_rules()] + dashboard_queries()
        for name in METRIC.findall(query)
    }
    defined = defined_metrics()
    assert defined >= AGREED
    assert used - defined - BROKER_SAMPLED == set()
    assert AGREED - {"jiesu_http_request_duration_seconds_bucket"} <= used


def test_the_dashboard_is_valid_grafana_with_chinese_first_panels_on_the_provisioned_source() -> (
    None
):
    board = dashboard()
    assert board["title"] == "Jiesu 接诉 运维" and board["uid"]
    [source] = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090"
    panels = board["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        title = panel["title"]
        assert chinese_then_english(title), title
        place = panel["gridPos"]
        assert place["x"] + place["w"] <= 24, title
        covered = {
            (x, y)
            for x in range(place["x"], place["x"] + place["w"])
            for y in range(place["y"], place["y"] + place["h"])
        }
        assert not covered & cells, f"{title} overlaps another panel"
        cells |= covered
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == source["uid"]
            assert panel["targets"] and all(
                t["datasource"]["uid"] == source["uid"] for t in panel["targets"]
            )
    for query in ("histogram_quantile", "jiesu_relay_delay_seconds", "jiesu_dlq_depth"):
        assert any(query in q for q in dashboard_queries())


def test_the_observability_profile_runs_beside_the_platform_without_changing_its_default() -> None:
    services = compose()["services"]
    for name in OBSERVABILITY:
        assert services[name]["profiles"] == ["observability"]
    assert not [
        name for name in services if name not in OBSERVABILITY and services[name].get("profiles")
    ]
    for name in SERVICES:
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" in services[name]["environment"]
    assert "4318:4318" in services["jaeger"]["ports"]
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "jiesu.yml")
    [files] = provider["providers"]
    for name in OBSERVABILITY:
        for volume in services[name].get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("./"):
                assert (REPO / source).exists(), volume
                if source == "./deploy/grafana/dashboards":
                    assert target == files["options"]["path"]


def test_the_kubernetes_deployments_are_scraped_on_their_http_port() -> None:
    for service in SERVICES:
        deployment, _ = yaml.safe_load_all((DEPLOY / "k8s" / f"{service}.yaml").read_text())
        template = deployment["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        [container] = template["spec"]["containers"]
        [port] = container["ports"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(port["containerPort"])
        assert annotations["prometheus.io/path"] == "/metrics"


PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian: the prometheus package)"
)


def promtool(*args: str) -> None:
    assert PROMTOOL is not None
    result = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_the_alerts_fire_when_and_as_their_rule_tests_say() -> None:
    promtool("test", "rules", str(DEPLOY / "prometheus" / "alerts.test.yml"))


@needs_promtool
def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    rules = [
        {"record": f"dashboard:query{n}", "expr": q} for n, q in enumerate(dashboard_queries())
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    promtool("check", "rules", str(path))
