"""Committed JSON-Schema snapshots of every event contract, and the rule that guards them.

`python -m shared.events.snapshots --write` records the current schemas; a test compares.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from shared.events import REGISTRY, Event

SNAPSHOTS = Path(__file__).with_name("schemas")


def snapshot_path(event_class: type[Event]) -> Path:
    return SNAPSHOTS / f"{event_class.event_type}.v{event_class.version}.json"


def current_schema(event_class: type[Event]) -> dict[str, Any]:
    return event_class.model_json_schema(mode="serialization")


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What makes `new` unreadable for a consumer of `old` data (or the reverse) at the same version.

    Allowed without a version bump: new optional properties. Anything else is breaking:
    a property removed or retyped, or a new required property.
    """
    problems = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, spec in old_props.items():
        if name not in new_props:
            problems.append(f"property {name!r} was removed")
        elif _shape(spec, old) != _shape(new_props[name], new):
            problems.append(f"property {name!r} changed type")
    for name in set(new.get("required", [])) - set(old.get("required", [])):
        problems.append(f"property {name!r} became required")
    return problems


def _shape(spec: dict[str, Any], root: dict[str, Any]) -> Any:
    """A property's type with references resolved and documentation left out."""
    if "$ref" in spec:
        name = spec["$ref"].split("/")[-1]
        return _shape(root.get("$defs", {}).get(name, {}), root)
    ignored = {"title", "description", "default", "examples"}
    return {
        key: (
            [_shape(item, root) if isinstance(item, dict) else item for item in value]
            if isinstance(value, list)
            else _shape(value, root)
            if isinstance(value, dict)
            else value
        )
        for key, value in sorted(spec.items())
        if key not in ignored
    }


def write_all() -> list[Path]:
    SNAPSHOTS.mkdir(exist_ok=True)
    written = []
    for event_class in REGISTRY.values():
        path = snapshot_path(event_class)
        if path.exists():
            problems = breaking_changes(json.loads(path.read_text()), current_schema(event_class))
            if problems:
                raise SystemExit(
                    f"{event_class.event_type} v{event_class.version}: {'; '.join(problems)}. "
                    "Bump its version and add an upcaster instead."
                )
        path.write_text(
            json.dumps(current_schema(event_class), indent=2, ensure_ascii=False) + "\n"
        )
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="record the current schemas")
    args = parser.parse_args()
    if args.write:
        for path in write_all():
            print(path)


if __name__ == "__main__":
    main()
