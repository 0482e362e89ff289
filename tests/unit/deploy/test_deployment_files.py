"""docker-compose.yml and deploy/k8s/: valid against their schemas with no network (and a broken
file is caught), and consistent with the code: replicas within the partitions, probes on the
services' own endpoints, memory over the measured peak, budgets, autoscaling on the lag metric
the services expose, and settings every service accepts in production."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import check
from services.dispatch.settings import DispatchSettings
from services.intake.settings import IntakeSettings
from services.notify.settings import NotifySettings
from services.reporting.settings import ReportingSettings
from shared.metrics import CONSUMER_LAG
from shared.settings import ServiceSettings
from shared.topics import CONSUMES, EVENT_PARTITIONS

REPO = Path(__file__).resolve().parents[3]
K8S = REPO / "deploy" / "k8s"
SETTINGS: dict[str, type[ServiceSettings]] = {
    "intake": IntakeSettings,
    "dispatch": DispatchSettings,
    "notify": NotifySettings,
    "reporting": ReportingSettings,
}
# Issue 18: the replicas each service runs on Kubernetes (at least), and processes on compose.
REPLICAS = {"intake": 2, "dispatch": 3, "notify": 3, "reporting": 2}
COMPOSE_PROCESSES = {"intake": 1, "dispatch": 3, "notify": 3, "reporting": 2}
AUTOSCALED = ("notify", "reporting")
INTERPOLATION = re.compile(r"\$\{(\w+)(?::([?-]))?([^}]*)\}")


def load(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    found, _ = check.manifests()
    return {m.resource["metadata"]["name"]: m.resource for m in found if m.resource["kind"] == kind}


def deployment(service: str) -> dict[str, Any]:
    return by_kind("Deployment")[f"jiesu-{service}"]


def container(service: str) -> dict[str, Any]:
    [only] = deployment(service)["spec"]["template"]["spec"]["containers"]
    return only


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    return services


def mebibytes(quantity: str) -> int:
    assert quantity.endswith("Mi"), quantity
    return int(quantity[:-2])


# --- the check itself -------------------------------------------------------------------------


def test_the_deployment_files_pass_the_check_with_no_network() -> None:
    """`make lint`'s check, in a network namespace of its own (no interface but loopback, and
    that one down) where unshare can make one, else with every proxy pointing nowhere."""
    command = [sys.executable, "-m", "deploy.check"]
    isolated = shutil.which("unshare")
    if isolated and subprocess.run([isolated, "-n", "true"], capture_output=True).returncode == 0:
        command = [isolated, "-n", *command]
    nowhere = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    result = subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **nowhere},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def broken_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "k8s"
    shutil.copytree(K8S, folder)
    return folder


def test_a_manifest_with_a_wrong_field_or_type_fails(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path)
    text = (folder / "dispatch.yaml").read_text()
    text = text.replace("httpGet: {path: /readyz", "httpGet: {pathh: /readyz")
    (folder / "dispatch.yaml").write_text(text.replace("replicas: 3", 'replicas: "three"'))
    found, shape = check.manifests(folder)
    faults = check.kubernetes_faults(found)
    assert shape == []
    assert any("Deployment/jiesu-dispatch" in f and "'three'" in f for f in faults), faults
    assert all("dispatch.yaml" in fault for fault in faults), faults
    # Fixed the type, the probe's unknown field is what the strict schema refuses next.
    (folder / "dispatch.yaml").write_text(text)
    faults = check.kubernetes_faults(check.manifests(folder)[0])
    assert any("pathh" in fault for fault in faults), faults


def test_a_kind_without_a_schema_fails_instead_of_passing_unchecked(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path)
    scaled = "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: jiesu-notify}\n"
    (folder / "autoscaling.yaml").write_text(scaled)
    faults = check.kubernetes_faults(check.manifests(folder)[0])
    assert any("ScaledObject" in fault and "offline" in fault for fault in faults), faults


def test_a_file_the_kustomization_misses_or_names_wrongly_fails(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path)
    shutil.copy(folder / "disruption.yaml", folder / "budgets.yaml")
    kustomization = (folder / "kustomization.yaml").read_text()
    (folder / "kustomization.yaml").write_text(kustomization.replace("notify.yaml", "notfy.yaml"))
    _, shape = check.manifests(folder)
    assert any("budgets.yaml" in fault for fault in shape), shape
    assert any("notfy.yaml does not exist" in fault for fault in shape), shape
    assert any("notify.yaml: not in kustomization" in fault for fault in shape), shape


def test_a_compose_file_against_the_compose_specification_fails(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    text = (REPO / "docker-compose.yml").read_text()
    broken.write_text(text.replace("    restart: on-failure\n", "    restart_policy: on-failure\n"))
    faults = check.compose_faults(broken)
    assert any("restart_policy" in fault for fault in faults), faults


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_what_the_check_validates_is_what_kubectl_kustomize_emits() -> None:
    """The check reproduces kustomize for the fields the kustomization uses; where kubectl is
    there (it builds the kustomization offline), the two agree object for object."""
    assert KUBECTL is not None
    built = subprocess.run(
        [KUBECTL, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    emitted = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(built) if d}
    found, _ = check.manifests()
    ours = {
        (m.resource["kind"], m.resource["metadata"]["name"]): m.resource
        for m in found
        if m.source not in check.BY_HAND
    }
    assert ours == emitted


def test_the_check_applies_the_kustomizations_namespace_and_image() -> None:
    found, _ = check.manifests()
    for manifest in found:
        kind, metadata = manifest.resource["kind"], manifest.resource["metadata"]
        if manifest.source in check.BY_HAND or kind == "Namespace":
            continue
        assert metadata["namespace"] == "jiesu", manifest.name
        for each in check.containers(manifest.resource):
            assert each["image"] == "jiesu:latest", manifest.name


# --- Kubernetes: what the manifests promise ---------------------------------------------------


@pytest.mark.parametrize("service", SETTINGS)
def test_each_service_runs_several_replicas_probed_on_its_own_endpoints(service: str) -> None:
    spec = deployment(service)["spec"]
    assert spec["replicas"] >= REPLICAS[service]
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    pod = container(service)
    assert pod["command"] == ["python", "-m", f"services.{service}.main"]
    [port] = pod["ports"]
    assert pod["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert pod["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert pod["startupProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    env = {item["name"]: item["value"] for item in pod["env"]}
    assert env[f"{service.upper()}_PORT"] == str(port["containerPort"])
    [service_object] = [
        s
        for s in by_kind("Service").values()
        if s["spec"]["selector"] == spec["selector"]["matchLabels"]
    ]
    assert service_object["spec"]["ports"][0]["targetPort"] == port["name"]


@pytest.mark.parametrize("service", SETTINGS)
def test_memory_covers_the_peak_the_manifest_says_was_measured(service: str) -> None:
    """The comment names the resident set measured under load (MiB); the request is above the
    largest figure it cites with room to spare, the limit well above the request."""
    text = (K8S / f"{service}.yaml").read_text()
    comment = " ".join(line[2:] for line in text.splitlines() if line.startswith("# "))
    measured = re.search(r"at rest (\d+), under load (\d+) .*? and (\d+) at 150/s", comment)
    assert measured, f"{service}.yaml does not say what its memory rests on"
    peak = max(int(value) for value in measured.groups())
    resources = container(service)["resources"]
    request = mebibytes(resources["requests"]["memory"])
    assert request >= 1.2 * peak
    assert mebibytes(resources["limits"]["memory"]) >= 1.5 * request
    assert "cpu" in resources["requests"] and "cpu" not in resources["limits"]


@pytest.mark.parametrize("service", SETTINGS)
def test_each_service_has_a_disruption_budget_over_its_pods(service: str) -> None:
    budget = by_kind("PodDisruptionBudget")[f"jiesu-{service}"]["spec"]
    assert budget["selector"] == deployment(service)["spec"]["selector"]
    assert budget["maxUnavailable"] == 1


def adapter_rules() -> list[dict[str, Any]]:
    values = yaml.safe_load((K8S / "prometheus-adapter.values.yaml").read_text())
    rules: list[dict[str, Any]] = values["rules"]["external"]
    return rules


@pytest.mark.parametrize("service", AUTOSCALED)
def test_notify_and_reporting_scale_on_their_consumer_lag_within_the_partitions(
    service: str,
) -> None:
    autoscaler = by_kind("HorizontalPodAutoscaler")[f"jiesu-{service}"]
    spec = autoscaler["spec"]
    target = deployment(service)
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": target["metadata"]["name"],
    }
    assert spec["minReplicas"] == target["spec"]["replicas"]
    # A rollout's extra pod must still find a partition (an unassigned member is never ready).
    surge = target["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    assert REPLICAS[service] < spec["maxReplicas"] <= EVENT_PARTITIONS - surge
    [metric] = spec["metrics"]
    assert metric["type"] == "External"
    external = metric["external"]["metric"]
    # The consumer label is the service's name (ServiceRuntime names its consumer so).
    assert external["selector"] == {"matchLabels": {"consumer": service}}
    assert CONSUMES[service]
    [rule] = [r for r in adapter_rules() if r["name"]["as"] == external["name"]]
    lag_series = CONSUMER_LAG._name  # the Gauge's series name
    assert rule["seriesQuery"].startswith(lag_series + "{")
    assert rule["resources"]["overrides"]["namespace"] == {"resource": "namespace"}
    assert "<<.Series>>{<<.LabelMatchers>>}" in rule["metricsQuery"]
    assert "partition" in rule["metricsQuery"]  # one figure per partition, however many report it


def test_the_configs_urls_name_the_services_and_every_reference_exists() -> None:
    [config] = load("config.yaml")
    services = {
        name: {port["port"] for port in s["spec"]["ports"]}
        for name, s in by_kind("Service").items()
    }
    urls = {key: value for key, value in config["data"].items() if key.endswith("_URL")}
    internal = [re.match(r"http://([a-z-]+):(\d+)$", url) for url in urls.values()]
    assert len([m for m in internal if m]) == 4
    for match in filter(None, internal):
        assert int(match[2]) in services[match[1]], match[0]
    [secret] = load("secrets.example.yaml")
    for service in SETTINGS:
        sources = container(service)["envFrom"]
        assert {"configMapRef": {"name": config["metadata"]["name"]}} in sources
        assert {"secretRef": {"name": secret["metadata"]["name"]}} in sources
    [job] = by_kind("Job").values()
    [init] = job["spec"]["template"]["spec"]["containers"]
    assert init["command"] == ["python", "-m", "shared.kafka"]
    assert config["data"]["KAFKA_REPLICATION_FACTOR"] == "3"


def real(name: str, value: str) -> str:
    """A value production accepts in place of a placeholder or a required variable."""
    if "VAULT_MASTER_KEY" in name:
        return "ab" * 32
    if name.endswith("_URL") and not value:
        return "https://gateway.example.org/send"
    if name.endswith("_HOST") and not value:
        return "smtp.example.org"
    return value.replace("CHANGE", "a-real-value") if value else f"js_a-real-{name.lower()}"


def settle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str]) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of a developer's
    for name in list(os.environ):
        if name.split("_")[0] in {"INTAKE", "DISPATCH", "NOTIFY", "REPORTING", "DATABASE", "JIESU"}:
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("service", SETTINGS)
def test_production_accepts_each_service_as_kubernetes_configures_it(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    [config] = load("config.yaml")
    [secret] = load("secrets.example.yaml")
    env = {**config["data"], **{k: real(k, v) for k, v in secret["stringData"].items()}}
    env.update({item["name"]: item["value"] for item in container(service)["env"]})
    settle(monkeypatch, tmp_path, env)
    assert SETTINGS[service]().environment == "production"


def compose_value(name: str, value: Any) -> str:
    def resolve(match: re.Match[str]) -> str:
        variable, kind, rest = match.groups()
        return rest if kind == "-" else real(variable, "")

    return INTERPOLATION.sub(resolve, str(value))


@pytest.mark.parametrize("service", SETTINGS)
def test_compose_runs_each_service_as_production_accepts_it_in_several_processes(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    services = compose_services()
    defined = services[service]
    env = {k: compose_value(k, v) for k, v in defined["environment"].items()}
    settle(monkeypatch, tmp_path, env)
    assert SETTINGS[service]().environment == "production"
    port = defined["ports"][0].split(":")[-1]
    assert f"http://127.0.0.1:{port}/readyz" in " ".join(defined["healthcheck"]["test"])
    worker = services.get(f"{service}-worker")
    processes = 1 + (worker["deploy"]["replicas"] if worker else 0)
    assert processes == COMPOSE_PROCESSES[service]
    if worker:
        assert "ports" not in worker  # replicas cannot share a host port
        for same in ("command", "environment", "healthcheck", "depends_on", "image"):
            assert worker[same] == defined[same], same
        # Prometheus (profile observability) scrapes each replica by compose's DNS for the name.
        scrape = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
        [job] = [job for job in scrape["scrape_configs"] if job["job_name"] == service]
        assert job["dns_sd_configs"] == [
            {"names": [f"{service}-worker"], "type": "A", "port": int(port)}
        ]
