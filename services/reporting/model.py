"""A read model: its tables, its schema file and its projection per event type (the registry of
them, MODELS, is in projections.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.reporting.upsert import Upsert
from shared.envelope import Envelope
from shared.events import Event

SCHEMA_DIR = Path(__file__).with_name("schema")


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    label: str
    version: int  # bump when the tables' shape changes: the model is then rebuilt
    tables: tuple[str, ...]
    projections: Mapping[type[Event], Callable[[Any, Envelope], list[Upsert]]]
    # Tables whose every row is one event's (keyed by it, written `once`): a rebuild copies
    # them into its fresh tables instead of upserting them.
    appended: tuple[str, ...] = ()

    @property
    def schema(self) -> Path:
        return SCHEMA_DIR / f"{self.name}.sql"
