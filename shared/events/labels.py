"""The words a person sees for the contract's enums: one table per enum, in Chinese.

Every service labels a status, a role or a clock from these tables, so the same value reads
the same in intake's answers, dispatch's work lists, notify's messages and reporting's board.
The English name of a member is its value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.deadlines import ClockName, PriorityTier
from shared.events.area import AreaLevel
from shared.events.complaint import (
    Channel,
    ComplaintStatus,
    ComplaintType,
    FindingOutcome,
    NoticeChannel,
    RatedVia,
    Satisfaction,
)
from shared.events.dispatch import ResponderRole
from shared.events.matters import MatterKind, MatterStatus
from shared.events.notification import Audience, NoticeKind

STATUS: dict[ComplaintStatus, str] = {
    ComplaintStatus.FILED: "已受理",
    ComplaintStatus.TRIAGE: "待人工分类",
    ComplaintStatus.CLASSIFIED: "已分类，待派单",
    ComplaintStatus.ANSWERED: "直接办结",
    ComplaintStatus.DISPATCHED: "已派单",
    ComplaintStatus.SIGNED: "已签收",
    ComplaintStatus.RESOLVED: "已办理反馈",
    ComplaintStatus.CALLED_BACK: "已回访",
    ComplaintStatus.REDO: "重办",
    ComplaintStatus.MERGED: "已并案",
    ComplaintStatus.WITHDRAWN: "已撤回",
    ComplaintStatus.CLOSED: "已办结",
}
TYPE: dict[ComplaintType, str] = {
    ComplaintType.CONSULTATION: "咨询",
    ComplaintType.HELP: "求助",
    ComplaintType.COMPLAINT: "投诉",
    ComplaintType.REPORT: "举报",
    ComplaintType.SUGGESTION: "建议",
    ComplaintType.PRAISE: "表扬",
}
CHANNEL: dict[Channel, str] = {
    Channel.HOTLINE: "12345热线",
    Channel.WECHAT: "微信",
    Channel.APP: "App/网站",
    Channel.WALK_IN: "社区“我来办”工作站",
    Channel.GRID_PATROL: "网格员巡查",
    Channel.PROPERTY_APP: "物业App",
    Channel.OPEN311: "Open311客户端",
}
SATISFACTION: dict[Satisfaction, str] = {
    Satisfaction.SATISFIED: "满意",
    Satisfaction.BASICALLY_SATISFIED: "基本满意",
    Satisfaction.UNSATISFIED: "不满意",
}
RATED_VIA: dict[RatedVia, str] = {
    RatedVia.CALLBACK: "工作人员回访",
    RatedVia.SMS: "短信",
    RatedVia.WECHAT: "微信",
    RatedVia.LINK: "评价链接",
}
ROLE: dict[ResponderRole, str] = {ResponderRole.LEAD: "主办", ResponderRole.CO: "协办"}
AUDIENCE: dict[Audience, str] = {
    Audience.RESIDENT: "诉求人",
    Audience.RESPONDER: "承办单位",
    Audience.SUPERVISOR: "督办单位",
    Audience.SUBSCRIBER: "订阅方",
}
MATTER_KIND: dict[MatterKind, str] = {
    MatterKind.SUBSISTENCE_ALLOWANCE: "低保申请",
    MatterKind.ELDERLY_ALLOWANCE: "尊老金发放",
    MatterKind.ONLY_CHILD_ALLOWANCE: "独生子女费申领",
    MatterKind.PROXY: "代办",
    MatterKind.OTHER: "其他政务事项",
}
MATTER_STATUS: dict[MatterStatus, str] = {
    MatterStatus.OPEN: "已受理",
    MatterStatus.IN_PROGRESS: "办理中",
    MatterStatus.DONE: "已办结",
}
CLOCK: dict[ClockName, str] = {
    ClockName.SIGN: "签收",
    ClockName.CONTACT: "联系诉求人",
    ClockName.FEEDBACK: "办理反馈",
    ClockName.GROUP_REPLY: "群内公开回复",
    ClockName.MATTER: "政务事项办理",
}
TIER: dict[PriorityTier, str] = {
    PriorityTier.EMERGENCY: "紧急",
    PriorityTier.UTILITY: "水电气热",
    PriorityTier.GENERAL: "一般",
    PriorityTier.COMPLEX: "复杂",
}
AREA_LEVEL: dict[AreaLevel, str] = {
    AreaLevel.DISTRICT: "区县",
    AreaLevel.STREET: "街道（乡镇）",
    AreaLevel.COMMUNITY: "社区",
    AreaLevel.GRID: "网格",
    AreaLevel.BUILDING: "楼栋",
    AreaLevel.UNIT: "单元",
}
NOTICE_KIND: dict[NoticeKind, str] = {
    NoticeKind.OUTAGE: "停水停电",
    NoticeKind.MEETING: "会议通知",
    NoticeKind.CONSULTATION: "征求意见",
    NoticeKind.OTHER: "通知",
}
NOTICE_CHANNEL: dict[NoticeChannel, str] = {
    NoticeChannel.SMS: "短信",
    NoticeChannel.WECHAT: "微信",
    NoticeChannel.EMAIL: "电子邮件",
}
FINDING_OUTCOME: dict[FindingOutcome, str] = {
    FindingOutcome.FIXED_ON_SPOT: "随手做（当场解决）",
    FindingOutcome.REPORTED: "已上报办理",
    FindingOutcome.NOTED: "已记录待跟进",
}
# The rungs of the escalation ladder, as `CaseEscalated.from_level` / `to_level` name them.
ESCALATION_LEVEL: dict[str, str] = {
    "community": "社区",
    "street": "街道",
    "department": "区县部门",
    "district": "区县政府",
}


def label_of(table: Mapping[Any, str], value: str | None) -> str | None:
    """The label of a member given by its value, as an event's plain `str` field carries it;
    None for a value the table does not know."""
    return table.get(value) if value is not None else None
