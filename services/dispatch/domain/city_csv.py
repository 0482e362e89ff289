"""A city model's sections as CSV, as a city's own spreadsheets export them (moved out of
city.py, which holds the model itself and would pass the 600-line limit)."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

CSV_COLUMNS = {
    "areas": ("code", "name", "level", "parent"),
    "responders": ("id", "name", "kind", "areas", "person", "company"),
    "compounds": ("area", "property_company", "owners_committee", "developer"),
    "people": ("id", "kind", "person", "areas", "company", "name"),
    "categories": ("code", "name", "priority"),
    "catalogue": ("id", "category", "scope", "lead", "co", "priority", "escalate_to", "dispatcher"),
    "registrations": ("id", "community", "unit", "person", "title"),
    "duty_rota": ("id", "community", "responder", "weekdays", "start", "end"),
}
CSV_REQUIRED = {
    "areas": ("code", "name", "level"),
    "responders": ("id", "name", "kind", "areas"),
    "compounds": ("area",),
    "people": ("id", "kind", "person", "areas"),
    "categories": ("code", "name"),
    "catalogue": ("id", "category", "scope", "lead"),
    "duty_rota": ("id", "community", "responder", "start", "end"),
}
# Cells holding several values, separated by ; | or whitespace (a category's `keywords`: the
# words intake classifies by, as a YAML city's list).
CSV_LISTS = {
    ("categories", "keywords"),
    ("responders", "areas"),
    ("people", "areas"),
    ("catalogue", "co"),
    ("duty_rota", "weekdays"),
}


def read_csv(section: str, text: str) -> list[dict[str, Any]]:
    """A CSV section as rows ready for validation (header names and cells trimmed)."""
    if section not in CSV_COLUMNS:
        raise ValueError(
            f"没有名为 {section} 的表 Unknown section; one of {', '.join(CSV_COLUMNS)}"
        )
    try:
        lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    except csv.Error as error:
        raise ValueError(f"{section}.csv 格式有误 Malformed CSV: {error}") from None
    header = [name.strip() for name in (lines[0] if lines else [])]
    missing = [c for c in CSV_REQUIRED.get(section, ("id",)) if c not in header]
    if missing:
        raise ValueError(f"{section}.csv 缺少列 missing columns: {', '.join(missing)}")
    rows = []
    for cells in lines[1:]:
        cleaned: dict[str, Any] = {}
        for name, value in zip(header, cells, strict=False):
            if not name or not value.strip():
                continue
            if (section, name) in CSV_LISTS:
                cleaned[name] = [v for v in re.split(r"[;|\s]+", value.strip()) if v]
            else:
                cleaned[name] = value.strip()
        if cleaned:
            rows.append(cleaned)
    return rows
