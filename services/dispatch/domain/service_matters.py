"""政务事项: administrative matters handled for residents (低保申请、尊老金发放、独生子女费申领、
代办) by a named staff member under a time limit, shown on the 督办墙 next to complaints.

Seed 002: 专设民生事项督办墙、展示屏，对于低保申请、尊老金发放、独生子女费申领等事项一律公开进度，
明确专人限时办理; 政务代办站…每天安排专人值班. A matter is an aggregate of its own (one stream per
matter), not a case: nobody filed a complaint, nothing is routed, and intake has nothing to mirror.
Its one clock uses dispatch's durable timers. It names no applicant. Pure: events out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from services.dispatch.domain.deadlines import Timer
from services.dispatch.domain.rules import IllegalTransition, Rules
from shared.deadlines import ClockName, warn_time
from shared.events import (
    Event,
    MatterKind,
    MatterStatus,
    ServiceMatterBreached,
    ServiceMatterCompleted,
    ServiceMatterOpened,
    ServiceMatterProgressed,
    ServiceMatterWarned,
    labels,
)
from shared.events.area import AreaLevel


@dataclass(frozen=True, slots=True)
class Step:
    note: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Matter:
    matter_id: UUID
    kind: MatterKind
    title: str
    community_code: str
    community_name: str
    responder_id: str
    person: str
    time_limit: str
    due_at: datetime
    warn_at: datetime
    opened_at: datetime
    updated_at: datetime
    status: MatterStatus = MatterStatus.OPEN
    steps: tuple[Step, ...] = ()
    warned: bool = False
    breached: bool = False
    result: str | None = None
    completed_at: datetime | None = None
    on_time: bool | None = None
    version: int = 0


def _opened(m: Matter | None, e: ServiceMatterOpened) -> Matter:
    return Matter(
        matter_id=e.matter_id,
        kind=e.kind,
        title=e.title,
        community_code=e.community_code,
        community_name=e.community_name,
        responder_id=e.responder_id,
        person=e.person,
        time_limit=e.time_limit,
        due_at=e.due_at,
        warn_at=e.warn_at,
        opened_at=e.opened_at,
        updated_at=e.opened_at,
    )


def _progressed(m: Matter, e: ServiceMatterProgressed) -> Matter:
    return replace(
        m,
        status=MatterStatus.IN_PROGRESS,
        steps=(*m.steps, Step(e.note, e.progressed_at)),
        updated_at=e.progressed_at,
    )


def _completed(m: Matter, e: ServiceMatterCompleted) -> Matter:
    return replace(
        m,
        status=MatterStatus.DONE,
        result=e.result,
        completed_at=e.completed_at,
        on_time=e.on_time,
        updated_at=e.completed_at,
    )


_EVOLVE: dict[type[Event], Callable[[Any, Any], Matter]] = {
    ServiceMatterOpened: _opened,
    ServiceMatterProgressed: _progressed,
    ServiceMatterCompleted: _completed,
    ServiceMatterWarned: lambda m, e: replace(m, warned=True),
    ServiceMatterBreached: lambda m, e: replace(m, breached=True),
}
MATTER_EVENTS = tuple(_EVOLVE)


def evolve(matter: Matter | None, event: Event) -> Matter:
    if matter is None and not isinstance(event, ServiceMatterOpened):
        raise ValueError(f"a matter starts with ServiceMatterOpened, not {event.event_type}")
    after = _EVOLVE[type(event)](matter, event)
    return replace(after, version=(matter.version if matter else 0) + 1)


def fold(events: Iterable[Event], matter: Matter | None = None) -> Matter | None:
    for event in events:
        matter = evolve(matter, event)
    return matter


# ---------------------------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------------------------


def open_matter(
    rules: Rules,
    *,
    kind: MatterKind,
    title: str,
    area_code: str,
    responder_id: str,
    person: str | None,
    actor: str,
    now: datetime,
) -> ServiceMatterOpened:
    """A matter taken on in a community by a named person, due by the city's limit for its kind."""
    model = rules.model
    community = model.enclosing(area_code, AreaLevel.COMMUNITY)
    if community is None:
        raise IllegalTransition(f"区域 {area_code} 不在任何社区内 Not within a community")
    staff = model.responders.get(responder_id)
    if staff is None or community not in model.served.get(responder_id, ()):
        raise IllegalTransition(
            f"{responder_id} 不是{model.area_names.get(community, community)}的工作人员 "
            "Not staff of the community"
        )
    named = person or next(
        (r.person for r in model.file.responders if r.id == responder_id and r.person),
        staff.name,
    )
    limit = model.time_limits.for_matter(kind.value)
    due = rules.due(now, limit)
    return ServiceMatterOpened(
        matter_id=uuid4(),
        kind=kind,
        title=title,
        community_code=community,
        community_name=model.area_names.get(community, community),
        responder_id=responder_id,
        person=named,
        time_limit=limit,
        due_at=due,
        warn_at=warn_time(now, due, model.time_limits.warn_at),
        actor=actor,
        opened_at=now,
    )


def _open(matter: Matter, action: str) -> None:
    if matter.status is MatterStatus.DONE:
        raise IllegalTransition(
            f"政务事项 {matter.matter_id} 已{labels.MATTER_STATUS[matter.status]}，不能{action}。"
        )


def progress(matter: Matter, note: str, actor: str, now: datetime) -> list[Event]:
    _open(matter, "更新进度")
    return [
        ServiceMatterProgressed(
            matter_id=matter.matter_id, note=note, actor=actor, progressed_at=now
        )
    ]


def complete(matter: Matter, result: str, actor: str, now: datetime) -> list[Event]:
    _open(matter, "办结")
    return [
        ServiceMatterCompleted(
            matter_id=matter.matter_id,
            result=result,
            on_time=now <= matter.due_at,
            due_at=matter.due_at,
            actor=actor,
            completed_at=now,
        )
    ]


# ---------------------------------------------------------------------------------------------
# Its clock, on dispatch's durable timers (the matter's id stands for case and order)
# ---------------------------------------------------------------------------------------------


def timers(matter: Matter | None) -> set[Timer]:
    if matter is None or matter.status is MatterStatus.DONE:
        return set()
    wanted = set()
    at = (matter.matter_id, matter.matter_id, ClockName.MATTER)
    if not matter.warned and matter.warn_at < matter.due_at:
        wanted.add(Timer(*at, "warning", matter.due_at, matter.warn_at))
    if not matter.breached:
        wanted.add(Timer(*at, "breach", matter.due_at, matter.due_at))
    return wanted


def fire(matter: Matter, timer: Timer, now: datetime, rules: Rules) -> list[Event]:
    """A due timer: a warning or a breach, once; nothing if the matter was done meanwhile."""
    if timer not in timers(matter):
        return []
    if timer.kind == "warning":
        return [
            ServiceMatterWarned(
                matter_id=matter.matter_id,
                responder_id=matter.responder_id,
                due_at=matter.due_at,
                warned_at=now,
            )
        ]
    return [
        ServiceMatterBreached(
            matter_id=matter.matter_id,
            responder_id=matter.responder_id,
            due_at=matter.due_at,
            breached_at=now,
            supervisor_ids=rules.model.supervisors_of(
                matter.community_code, but=matter.responder_id
            ),
        )
    ]
