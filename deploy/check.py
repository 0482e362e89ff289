"""The deployment files checked offline: docker-compose.yml against the Compose specification,
every Kubernetes manifest under deploy/k8s/ against the Kubernetes API's schemas.

Run: python -m deploy.check   (what `make lint` runs; exit 1 with one line per fault)

Both schema sets ship inside the dev tools' wheels (check-jsonschema's vendored compose-spec,
kubernetes-validate's per-version API schemas), so nothing is fetched: the check gives the same
answer with no network. The manifests are checked as `kubectl apply -k deploy/k8s` would send
them (the kustomization's resources, its namespace and image set), plus the example Secret that
is created by hand. kubernetes-validate only warns about a kind it has no schema for and passes
the file; here that is a fault, so a typo in a kind or a custom resource (which cannot be
checked offline) fails instead of passing unchecked.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
K8S = REPO / "deploy" / "k8s"
SCHEMA_FLAGS = ("--builtin-schema", "vendor.compose-spec", "--output-format", "text")
# The oldest Kubernetes the manifests promise to run on (autoscaling/v2 and policy/v1 are GA
# since 1.23 and 1.21) and the newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
# Under deploy/k8s/ but not applied by the kustomization: created or installed by hand.
BY_HAND = {
    "secrets.example.yaml": "manifest",  # the Secret's shape; the real one comes from a vault
    "prometheus-adapter.values.yaml": "values",  # Helm values of prometheus-adapter, not a manifest
}
# What kustomization.yaml may use: the fields whose effect `manifests` reproduces.
KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "namespace", "resources", "images", "labels"}


@dataclass(frozen=True)
class Manifest:
    source: str  # the file under deploy/k8s/ it came from
    resource: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.resource.get('kind')}/{self.resource.get('metadata', {}).get('name')}"


def compose_faults(path: Path = COMPOSE_FILE) -> list[str]:
    """The Compose file against the Compose specification (check-jsonschema's bundled copy)."""
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", *SCHEMA_FLAGS, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode == 0:
        return []
    lines = [line.strip() for line in (result.stdout + result.stderr).splitlines()]
    return [f"{path.name}: {line}" for line in lines if line and not line.startswith("Schema ")]


def _documents(path: Path) -> Iterator[dict[str, Any]]:
    for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if document is not None:
            yield document


def manifests(folder: Path = K8S) -> tuple[list[Manifest], list[str]]:
    """What the kustomization emits, and the example Secret; with the faults of the folder's
    shape (a file neither applied nor listed as made by hand, a field the kustomization uses
    that is not reproduced here)."""
    faults: list[str] = []
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    if kustomization.get("kind") != "Kustomization":
        faults.append("kustomization.yaml: not a Kustomization")
    unknown = set(kustomization) - KUSTOMIZATION_FIELDS
    if unknown:
        faults.append(f"kustomization.yaml: fields this check does not apply: {sorted(unknown)}")
    resources: list[str] = kustomization.get("resources", [])
    namespace = kustomization.get("namespace")
    images = {image["name"]: image for image in kustomization.get("images", [])}
    labels = kustomization.get("labels", [])
    applied: list[Manifest] = []
    for name in resources:
        path = folder / name
        if not path.is_file():
            faults.append(f"kustomization.yaml: resource {name} does not exist")
            continue
        for resource in _documents(path):
            _kustomize(resource, namespace, images, labels)
            applied.append(Manifest(name, resource))
    for path in sorted(folder.glob("*.y*ml")):
        if path.name in resources or path.name == "kustomization.yaml":
            continue
        if BY_HAND.get(path.name) == "manifest":
            applied.extend(Manifest(path.name, resource) for resource in _documents(path))
        elif path.name not in BY_HAND:
            faults.append(f"{path.name}: not in kustomization.yaml's resources (or BY_HAND)")
    return applied, faults


def _kustomize(
    resource: dict[str, Any],
    namespace: str | None,
    images: dict[str, dict[str, str]],
    labels: list[dict[str, Any]],
) -> None:
    """What kustomize does to a resource for the fields the kustomization uses."""
    metadata = resource.setdefault("metadata", {})
    if namespace and resource.get("kind") != "Namespace":
        metadata["namespace"] = namespace
    for entry in labels:
        metadata.setdefault("labels", {}).update(entry.get("pairs", {}))
    for container in containers(resource):
        name, _, tag = container.get("image", "").partition(":")
        image = images.get(name)
        if image is not None:
            name, tag = image.get("newName", name), image.get("newTag", tag)
            container["image"] = f"{name}:{tag}" if tag else name


def containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    spec = resource.get("spec", {})
    pod = spec.get("jobTemplate", {}).get("spec", spec).get("template", {}).get("spec", {})
    return list(pod.get("containers", [])) + list(pod.get("initContainers", []))


def kubernetes_faults(
    found: list[Manifest], versions: tuple[str, ...] = KUBERNETES_VERSIONS
) -> list[str]:
    """Each manifest against the strict schema (no unknown fields) of each version."""
    faults = []
    for manifest in found:
        for version in versions:
            where = f"{manifest.source}: {manifest.name} (Kubernetes {version})"
            try:
                kubernetes_validate.validate(manifest.resource, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                at = ".".join(str(part) for part in error.path) or "(top)"
                faults.append(f"{where}: {at}: {error.message}")
            except kubernetes_validate.SchemaNotFoundError as error:
                faults.append(f"{where}: {error.message} (not checkable offline)")
            except (KeyError, TypeError) as error:
                faults.append(f"{where}: not a Kubernetes object ({error!r})")
    return faults


def faults() -> list[str]:
    try:
        found, shape = manifests()
    except yaml.YAMLError as error:
        return [f"deploy/k8s: not YAML: {error}"]
    return compose_faults() + shape + kubernetes_faults(found)


def main() -> None:
    found = faults()
    for fault in found:
        print(fault)
    if found:
        sys.exit(1)
    versions = ", ".join(KUBERNETES_VERSIONS)
    print(f"deploy: docker-compose.yml and deploy/k8s/ valid (Kubernetes {versions})")


if __name__ == "__main__":
    main()
