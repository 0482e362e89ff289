"""Events owned by dispatch about a community's 大党委 and its joint meetings, published on
`dispatch.events` (shared/events/dispatch.py is at its length; same owner, same topic).

One stream per community for its membership, one per meeting. These facts are about a
community, not one complaint: they travel unkeyed, like the city model's.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.events.base import Event
from shared.events.dispatch import AgendaAssignment

# --- meeting ---


class CouncilMember(BaseModel):
    """A member of a community's 大党委: a unit's party organisation, a department, or a post
    held by a named person (the 包挂领导)."""

    model_config = ConfigDict(frozen=True)
    name: str = Field(description="成员单位或职务 The member unit, or the post")
    kind: str = Field(
        description="leader 包挂领导 | department 职能部门 | resident_unit 驻区单位党组织 | "
        "dual_registered 双报到单位 | police 下沉民警 | owners_committee 业委会 | "
        "property_company 物业公司 | community 社区两委"
    )
    responder_id: str | None = Field(
        None, description="城市模型中的承办单位（可接工单） The unit in the city model, if any"
    )
    person: str | None = Field(None, description="具名人员（工作人员） The named staff member")
    post: str | None = Field(None, description="职务，如兼职委员 The post, e.g. 兼职委员")


class CommunityCouncilConstituted(Event):
    """社区大党委组建或调整: the whole membership as it now stands, and how often it meets."""

    event_type = "CommunityCouncilConstituted"
    version = 1

    community_code: str
    community_name: str
    members: list[CouncilMember]
    cadence_months: int = Field(description="例会间隔（月），原则上每季度 Months between meetings")
    actor: str
    constituted_at: datetime


class CouncilMeetingItem(BaseModel):
    """A matter on a meeting's agenda, and where it came from."""

    model_config = ConfigDict(frozen=True)
    key: str = Field(description="议程事项键（同一事项只列一次） The item's key on this agenda")
    source: str = Field(
        description="unsettled 协商未果 | recurring 多发点位 | escalated 已升级 | overdue 已超期 | "
        "monthly_topic 每月一题候选 | case 诉求 | patrol 巡查 | collected 征集"
    )
    title: str = Field(description="事项 The matter")
    detail: str = Field("", description="说明 Why it is on the agenda")
    case_id: UUID | None = Field(None, description="相关诉求（派单案件）The case it is about")
    agenda_item_id: UUID | None = Field(None, description="相关议事项 The agenda item")
    area_code: str | None = Field(None, description="地点 Where")


class CouncilMeetingScheduled(Event):
    """大党委联席会议已安排: a quarterly (例会) or ad hoc (随时召开) meeting of a community."""

    event_type = "CouncilMeetingScheduled"
    version = 1

    meeting_id: UUID
    community_code: str
    community_name: str
    kind: str = Field(description="quarterly 季度例会 | ad_hoc 临时会议")
    title: str
    scheduled_for: datetime = Field(description="召开时间 When it is to meet")
    actor: str
    scheduled_at: datetime


class CouncilAgendaPrepared(Event):
    """会前梳理事项清单: the agenda prepared from dispatch's own record of the community."""

    event_type = "CouncilAgendaPrepared"
    version = 1

    meeting_id: UUID
    community_code: str
    items: list[CouncilMeetingItem]
    actor: str
    prepared_at: datetime


class CouncilAgendaEdited(Event):
    """The community added or removed matters; `items` is the agenda after the edit."""

    event_type = "CouncilAgendaEdited"
    version = 1

    meeting_id: UUID
    community_code: str
    added: list[CouncilMeetingItem]
    removed: list[str] = Field(description="移除的事项键 Keys of the items removed")
    items: list[CouncilMeetingItem]
    actor: str
    edited_at: datetime


class CouncilMeetingHeld(Event):
    """联席会议已召开: who attended, who did not, and the minutes."""

    event_type = "CouncilMeetingHeld"
    version = 1

    meeting_id: UUID
    community_code: str
    attendance: list[str] = Field(description="出席单位和人员 Who attended")
    absent: list[str] = Field(description="缺席单位 Who was absent")
    minutes: str = Field(description="会议纪要 The minutes")
    actor: str
    held_at: datetime = Field(description="召开时间 When it met")


class CouncilMatterDecided(Event):
    """会议议定事项: a decision on one matter, its duties work orders with limits on a case
    (the matter's own, or one the decision opened for a matter that had none)."""

    event_type = "CouncilMatterDecided"
    version = 1

    meeting_id: UUID
    decision_id: UUID
    community_code: str
    item_key: str = Field(description="议程事项键 The agenda item decided")
    case_id: UUID = Field(description="承载工单的派单案件 The case that carries the duties")
    opened_case: bool = Field(description="是否为此新开案件 Whether the decision opened it")
    decision: str
    duties: list[AgendaAssignment] = Field(description="交办各成员单位的工单 The duties")
    actor: str
    decided_at: datetime
