"""Events owned by dispatch about 政务事项, published on `dispatch.events` (one stream per matter).

Seed 002: 专设民生事项督办墙、展示屏，对于低保申请、尊老金发放、独生子女费申领等事项一律公开进度，
明确专人限时办理. A matter is an administrative service handled for a resident by a named staff
member under a time limit, shown on the public board next to complaints. Its events name no
applicant: no name, no ID number, no place finer than the community.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import Field

from shared.events.base import Event

# --- rota ---


class MatterKind(StrEnum):
    """What kind of administrative matter a 政务事项 is."""

    SUBSISTENCE_ALLOWANCE = "subsistence_allowance"  # 低保申请
    ELDERLY_ALLOWANCE = "elderly_allowance"  # 尊老金发放
    ONLY_CHILD_ALLOWANCE = "only_child_allowance"  # 独生子女费申领
    PROXY = "proxy"  # 代办 (政务代办站)
    OTHER = "other"


class MatterStatus(StrEnum):
    """Where a 政务事项 is."""

    OPEN = "open"  # 已受理
    IN_PROGRESS = "in_progress"  # 办理中
    DONE = "done"  # 已办结


class ServiceMatterOpened(Event):
    """A 政务事项 was taken on for a resident by a named staff member, with a time limit, to be
    shown on the 督办墙. It names no applicant: no name, no ID number, no place finer than the
    community."""

    event_type = "ServiceMatterOpened"
    version = 1

    matter_id: UUID = Field(description="政务事项编号 The matter's id")
    kind: MatterKind
    title: str = Field(
        description="公开标题，不含申请人信息 The public title, without the applicant's data"
    )
    community_code: str
    community_name: str
    responder_id: str = Field(description="专人（承办人员）编号 The staff member's id")
    person: str = Field(description="专人姓名，公示于督办墙 The named person, shown on the board")
    time_limit: str = Field(description="办理时限，如 10wd The time limit, e.g. 10wd")
    due_at: datetime
    warn_at: datetime
    actor: str
    opened_at: datetime


class ServiceMatterProgressed(Event):
    """A step of a 政务事项 (材料已收齐、已报街道审核…), shown as its progress."""

    event_type = "ServiceMatterProgressed"
    version = 1

    matter_id: UUID
    note: str = Field(description="进度说明，不含申请人信息 The step, without the applicant's data")
    actor: str
    progressed_at: datetime


class ServiceMatterCompleted(Event):
    """A 政务事项 was done (办结), on time or late."""

    event_type = "ServiceMatterCompleted"
    version = 1

    matter_id: UUID
    result: str = Field(description="办理结果 What was done")
    on_time: bool = Field(description="是否在时限内办结 Done within the time limit")
    due_at: datetime
    actor: str
    completed_at: datetime


class ServiceMatterWarned(Event):
    """A 政务事项's time limit is close to running out (预警)."""

    event_type = "ServiceMatterWarned"
    version = 1

    matter_id: UUID
    responder_id: str
    due_at: datetime
    warned_at: datetime


class ServiceMatterBreached(Event):
    """A 政务事项's time limit ran out before it was done (超期)."""

    event_type = "ServiceMatterBreached"
    version = 1

    matter_id: UUID
    responder_id: str
    due_at: datetime
    breached_at: datetime
    supervisor_ids: list[str] = Field(
        default_factory=list, description="应知悉的督办单位 Who supervises the community"
    )
