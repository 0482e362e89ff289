"""Whether two JSON Schemas of one contract version can stand for each other on the wire.

Events flow both ways across a deployment: new code reads old history, and consumers not yet
upgraded read what a new producer writes. So at one version the only change allowed is a new
optional property (older readers ignore unknown fields); every other change to the shape of
existing data is breaking, in either direction: a property removed, retyped, given another
format, no longer or newly nullable, its enum values changed (added values too: an older
consumer rejects a value it does not know), or a property newly required.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

# Documentation only: a change to these never changes what data is valid.
_DOCUMENTATION = {"title", "description", "default", "examples"}


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """What makes data of `new` unreadable for a reader of `old`, or the reverse, at one version.

    Nested models are compared property by property, so that a nested model, too, may gain an
    optional property without a version bump."""
    return _compare(old, old, new, new, "", frozenset())


def _compare(
    old: Schema, old_root: Schema, new: Schema, new_root: Schema, path: str, seen: frozenset[Any]
) -> list[str]:
    refs = (old.get("$ref"), new.get("$ref"))
    if refs != (None, None):
        if refs in seen:  # a recursive model: its shape is being compared further up already
            return []
        seen = seen | {refs}
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    if "properties" in old and "properties" in new:
        return _compare_objects(old, old_root, new, new_root, path, seen)
    old_nullable, old_variants = _variants(old, old_root)
    new_nullable, new_variants = _variants(new, new_root)
    problems = []
    if old_nullable and not new_nullable:
        problems.append(f"property {path!r} no longer accepts null")
    elif new_nullable and not old_nullable:
        problems.append(f"property {path!r} may now be null (older readers require a value)")
    if len(old_variants) == len(new_variants) == 1:
        one_old, one_new = old_variants[0], new_variants[0]
        if one_old is not old or one_new is not new:  # unwrapped from `X | None`
            return problems + _compare(one_old, old_root, one_new, new_root, path, seen)
        return problems + _compare_one(old, old_root, new, new_root, path, seen)
    if [_shape(v, old_root) for v in old_variants] != [_shape(v, new_root) for v in new_variants]:
        problems.append(f"property {path!r} changed type")
    return problems


def _compare_objects(
    old: Schema, old_root: Schema, new: Schema, new_root: Schema, path: str, seen: frozenset[Any]
) -> list[str]:
    prefix = f"{path}." if path else ""
    problems = []
    old_properties, new_properties = old["properties"], new["properties"]
    for name, spec in old_properties.items():
        if name not in new_properties:
            problems.append(f"property {prefix + name!r} was removed")
        else:
            problems += _compare(
                spec, old_root, new_properties[name], new_root, prefix + name, seen
            )
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        problems.append(f"property {prefix + name!r} became required")
    return problems


def _compare_one(
    old: Schema, old_root: Schema, new: Schema, new_root: Schema, path: str, seen: frozenset[Any]
) -> list[str]:
    """Two schemas of one variant each (no `null` among them)."""
    old_values, new_values = _enum(old), _enum(new)
    if old_values is not None and new_values is not None:
        problems = []
        if removed := [value for value in old_values if value not in new_values]:
            problems.append(f"property {path!r} lost enum values {removed}")
        if added := [value for value in new_values if value not in old_values]:
            problems.append(
                f"property {path!r} gained enum values {added} (older readers reject them)"
            )
        if problems or old.get("type") == new.get("type"):
            return problems
    if old.get("type") != new.get("type") or (old_values is None) != (new_values is None):
        return [f"property {path!r} changed type from {_kind(old)} to {_kind(new)}"]
    if old.get("format") != new.get("format"):
        return [
            f"property {path!r} changed format from {old.get('format', 'none')} "
            f"to {new.get('format', 'none')}"
        ]
    if "items" in old and "items" in new:
        return _compare(old["items"], old_root, new["items"], new_root, f"{path}[]", seen)
    if _shape(old, old_root) != _shape(new, new_root):
        return [f"property {path!r} changed its constraints"]
    return []


def _resolve(spec: Schema, root: Schema) -> Schema:
    while "$ref" in spec:
        spec = root.get("$defs", {}).get(spec["$ref"].split("/")[-1], {})
    return spec


def _variants(spec: Schema, root: Schema) -> tuple[bool, list[Schema]]:
    """Whether `spec` accepts null, and the schemas it accepts besides."""
    options = spec.get("anyOf") or spec.get("oneOf")
    if options is None:
        types = spec.get("type")
        if isinstance(types, list) and "null" in types:
            rest = [kind for kind in types if kind != "null"]
            return True, [{**spec, "type": rest[0] if len(rest) == 1 else rest}]
        return False, [spec]
    resolved = [_resolve(option, root) for option in options]
    rest = [option for option, plain in zip(options, resolved, strict=True) if not _is_null(plain)]
    return len(rest) < len(options), rest


def _is_null(spec: Schema) -> bool:
    return spec.get("type") == "null" or spec.get("const", ...) is None


def _enum(spec: Schema) -> list[Any] | None:
    if "enum" in spec:
        return list(spec["enum"])
    if "const" in spec:
        return [spec["const"]]
    return None


def _kind(spec: Schema) -> str:
    kind = spec.get("type", "any")
    return f"enum {kind}" if _enum(spec) is not None else str(kind)


def _shape(spec: Schema, root: Schema) -> Any:
    """A schema with references resolved and documentation left out."""
    shaped: Schema = {}
    for key, value in sorted(_resolve(spec, root).items()):
        if key in _DOCUMENTATION:
            continue
        if key in ("properties", "patternProperties"):  # names of properties, not keywords
            shaped[key] = {name: _shape(item, root) for name, item in value.items()}
        elif key == "required":
            shaped[key] = sorted(value)
        elif isinstance(value, dict):
            shaped[key] = _shape(value, root)
        elif isinstance(value, list):
            shaped[key] = [_shape(item, root) if isinstance(item, dict) else item for item in value]
        else:
            shaped[key] = value
    return shaped
