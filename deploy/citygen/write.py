"""A generated city written as the admin API's CSV sections (one file each, lists joined by
`;`) or as one YAML city file."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import yaml

from deploy.citygen.model import City

COLUMNS = {
    "areas": ("code", "name", "level", "parent", "latitude", "longitude"),
    "responders": ("id", "name", "kind", "areas", "person"),
    "compounds": ("area", "property_company", "owners_committee"),
    "categories": ("code", "name", "priority", "group", "subgroup", "keywords"),
    "catalogue": ("id", "category", "scope", "lead", "co", "priority", "escalate_to", "dispatcher"),
    # left empty: a multipart load replaces what an earlier city had in them
    "registrations": ("id", "community", "unit", "person", "title"),
    "duty_rota": ("id", "community", "responder", "weekdays", "start", "end"),
}
# 工作日计时；邻里纠纷反馈 5 个工作日 (as the demo city): sent as the form's `time_limits`
TIME_LIMITS = {"days": "working", "categories": {"society-01-01": {"feedback": "5d"}}}


def csv_text(section: str, rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS[section])
    for row in rows:
        writer.writerow(
            [
                ";".join(value) if isinstance(value := row.get(column, ""), list) else value
                for column in COLUMNS[section]
            ]
        )
    return out.getvalue()


def csv_sections(city: City) -> dict[str, str]:
    """Every section as CSV text, in the order a multipart form sends them."""
    sections = city.sections() | {"registrations": [], "duty_rota": []}
    return {name: csv_text(name, rows) for name, rows in sections.items()}


def form_fields(city: City) -> dict[str, str]:
    """The fields of a multipart load besides the CSV files: the city's name, its limits."""
    return {"city": city.name, "time_limits": yaml.safe_dump(TIME_LIMITS, allow_unicode=True)}


def write_csv(city: City, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in csv_sections(city).items():
        path = out / f"{name}.csv"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    (out / "time_limits.yaml").write_text(form_fields(city)["time_limits"], encoding="utf-8")
    return paths


def write_yaml(city: City, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "city.yaml"
    document = {"city": city.name, **city.sections(), "time_limits": TIME_LIMITS}
    with path.open("w", encoding="utf-8") as file:
        yaml.dump(document, file, allow_unicode=True, sort_keys=False, Dumper=_dumper())
    return [path]


def _dumper() -> type[yaml.SafeDumper]:
    return getattr(yaml, "CSafeDumper", yaml.SafeDumper)
