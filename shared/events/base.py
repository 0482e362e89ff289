"""Base class, registry and the one parse function (with upcasting) for every event contract."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, ValidationError

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UnknownEventType(LookupError):
    """The wire type names no contract this build knows (a newer producer, or a typo)."""


class UndecodableEvent(ValueError):
    """The payload cannot become a contract: bad JSON, a version from the future, a failed validation."""


class Event(BaseModel):
    """An immutable fact. Subclasses set `event_type` (the wire type) and `version` explicitly."""

    # Unknown fields are ignored so that an additive change by a producer never breaks an
    # older consumer; a breaking change bumps `version` and adds an upcaster instead.
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str] = ""
    version: ClassVar[int] = 1
    upcasters: ClassVar[dict[int, Upcaster]]
    # Wire types this contract had before a rename. Their history reads as this contract: a
    # rename is a breaking change, so the version continues above the old name's last one and
    # an upcaster turns the old shape into the new.
    formerly: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if not cls.event_type:
            raise TypeError(f"{cls.__name__} must set event_type explicitly")
        for wire_type in (cls.event_type, *cls.formerly):
            if wire_type in REGISTRY or wire_type in FORMER_NAMES:
                raise TypeError(f"wire type {wire_type!r} is registered twice")
        cls.upcasters = {}
        REGISTRY[cls.event_type] = cls
        FORMER_NAMES.update(dict.fromkeys(cls.formerly, cls))

    @property
    def subject(self) -> str | None:
        """The complaint this fact is about: the Kafka key and CloudEvents `subject`."""
        complaint_id = getattr(self, "complaint_id", None)
        return str(complaint_id) if complaint_id is not None else None


REGISTRY: dict[str, type[Event]] = {}
# A renamed contract's old wire types, read as the contract (see `Event.formerly`).
FORMER_NAMES: dict[str, type[Event]] = {}
# Wire types no build reads any more, each with the reason. Their snapshots stay as history;
# consumers skip their records as unknown types.
RETIRED: dict[str, str] = {}


def wire_types(event_class: type[Event]) -> tuple[str, ...]:
    """The wire types a reader of `event_class` reads: its own and those before a rename."""
    return (event_class.event_type, *event_class.formerly)


def complaint_of(event: Event) -> UUID | None:
    """The complaint `event` is about; None for a fact about no one complaint (the city model,
    a calendar, an agenda item)."""
    complaint_id = getattr(event, "complaint_id", None)
    return complaint_id if isinstance(complaint_id, UUID) else None


def events_about_complaints() -> list[type[Event]]:
    """Every contract that names the complaint it is about."""
    return [cls for cls in REGISTRY.values() if "complaint_id" in cls.model_fields]


def upcaster(event_class: type[Event], from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function turning `from_version` data into `from_version + 1` data."""

    if from_version >= event_class.version:
        raise ValueError(f"{event_class.event_type} is only at version {event_class.version}")

    def register(function: Upcaster) -> Upcaster:
        event_class.upcasters[from_version] = function
        return function

    return register


def parse_event(event_type: str, version: int, data: dict[str, Any]) -> Event:
    """Turn wire data of any known version into the newest shape of its contract."""
    event_class = REGISTRY.get(event_type) or FORMER_NAMES.get(event_type)
    if event_class is None:
        raise UnknownEventType(event_type)
    if version > event_class.version:
        raise UndecodableEvent(
            f"{event_type} v{version} is newer than this build's v{event_class.version}"
        )
    while version < event_class.version:
        try:
            data = event_class.upcasters[version](data)
        except KeyError:
            raise UndecodableEvent(f"no upcaster for {event_type} v{version}") from None
        version += 1
    try:
        return event_class.model_validate(data)
    except ValidationError as error:
        raise UndecodableEvent(f"{event_type} v{version}: {error}") from error


def parse_event_json(event_type: str, version: int, raw: bytes | str) -> Event:
    """`parse_event` of a JSON payload: one in the newest shape is validated straight from its
    bytes (pydantic parses the JSON itself, about twice as fast as loading it first)."""
    event_class = REGISTRY.get(event_type)
    if event_class is None or version != event_class.version:
        try:
            data = json.loads(raw)
        except ValueError as error:
            raise UndecodableEvent(str(error)) from error
        if not isinstance(data, dict):
            raise UndecodableEvent("payload is not a JSON object")
        return parse_event(event_type, version, data)
    try:
        return event_class.model_validate_json(raw)
    except ValidationError as error:
        raise UndecodableEvent(f"{event_type} v{version}: {error}") from error
