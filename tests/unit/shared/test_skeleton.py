"""The services keep one skeleton (../shared/LAYOUT.md, the README's layout section): the same
role-named modules in each, no production module a reader must take in at once (over 600
lines), every JSON answer documented by a model, no untyped runtime state."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from services.dispatch.settings import DispatchSettings
from services.intake.settings import IntakeSettings
from services.notify.settings import NotifySettings
from services.reporting.settings import ReportingSettings
from shared.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[3]
SERVICES: dict[str, type[ServiceSettings]] = {
    "intake": IntakeSettings,
    "dispatch": DispatchSettings,
    "notify": NotifySettings,
    "reporting": ReportingSettings,
}
# Every service has these; handlers/workers/cli/adapters only where it has that kind of work.
ROLES = ("main.py", "settings.py", "app.py", "auth.py", "api/deps.py", "api/schemas.py")
MOST_LINES = 600


def production_modules() -> list[Path]:
    return sorted([*REPO.glob("services/**/*.py"), *REPO.glob("shared/**/*.py")])


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_skeletons_roles(service: str) -> None:
    root = REPO / "services" / service
    missing = [role for role in ROLES if not (root / role).exists()]
    for role in ("domain", "store"):
        if not (root / f"{role}.py").exists() and not (root / role / "__init__.py").exists():
            missing.append(role)
    assert not missing, f"{service} lacks {missing}"


def test_no_production_module_is_longer_than_a_reader_takes_in_at_once() -> None:
    long = {
        str(path.relative_to(REPO)): n
        for path in production_modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MOST_LINES
    }
    assert not long


def test_no_service_keeps_untyped_runtime_state() -> None:
    found = [
        str(path.relative_to(REPO))
        for path in production_modules()
        if re.search(r"runtime(_of\([^)]*\))?\.state\b", path.read_text(encoding="utf-8"))
    ]
    assert not found


def _json_answers(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    answers = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {}).get("application/json")
                if code.startswith("2") and content is not None:
                    answers[f"{method.upper()} {path} {code}"] = content.get("schema") or {}
    return answers


@pytest.mark.parametrize("service", SERVICES)
def test_every_json_answer_has_a_response_model(service: str) -> None:
    main = importlib.import_module(f"services.{service}.main")
    settings = SERVICES[service](database_url="postgresql://unused@127.0.0.1/unused")
    answers = _json_answers(main.create_app(settings).openapi())
    assert answers
    # A model shows in the document as a reference to its schema (or its properties inline).
    untyped = [
        name
        for name, schema in answers.items()
        if not re.search(r'"(\$ref|properties)"', json.dumps(schema))
    ]
    assert not untyped
