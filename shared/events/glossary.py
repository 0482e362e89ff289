"""What the contracts' fields mean, for the published documents: one entry per field name, the
same meaning wherever the name occurs (a contract's own `Field(description=...)` wins), and the
enums' values with the words a person sees (labels.py).

Chinese first, English after, as the documents' readers are both.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from shared.events import labels

FIELDS: dict[str, str] = {
    "complaint_id": "诉求编号（分区键） The complaint's id, also the Kafka key",
    "case_number": "受理编号，居民看到的号码 The case number residents see",
    "work_order_id": "工单编号 The work order's id",
    "lead_work_order_id": "主办工单编号 The lead's work order",
    "item_id": "议题编号 The agenda item's id",
    "actor": "操作者（角色:名称，或系统） Who did it: `role:name` of a key, or the system",
    "reason": "原因 Why, in the words of whoever decided",
    "status": "诉求状态 The complaint's status after this fact",
    "previous_status": "之前的状态 The status before",
    "occurred_at": "发生时间 When it happened",
    "responder_id": "承办单位编号 The responding unit's id",
    "responder_name": "承办单位名称 The responding unit's name",
    "responder_kind": "单位类别（街道、部门、物业、公共服务企业…） The unit's kind",
    "area_code": "区域编码（区县-街道-社区-网格-楼栋-单元，由粗到细） The area code, coarse to fine",
    "community_code": "社区编码 The community's area code",
    "district_code": "区县编码 The district's area code",
    "due_at": "时限 The deadline",
    "role": "主办或协办 Lead or co-operating unit",
    "category": "诉求分类编码 The catalogue's category code",
    "category_name": "诉求分类名称 The category's name",
    "previous_category": "原分类 The category before",
    "note": "说明 A note",
    "channel": "受理渠道 The channel it came in by",
    "clock": "计时项 Which time limit",
    "level": "层级 The level",
    "from_level": "原层级 The level it came from",
    "to_level": "升级到 The level it went to",
    "catalogue_version": "分类目录版本 The catalogue version it was decided by",
    "notification_id": "消息编号 The message's id",
    "resident_ref": "居民假名编号（不含身份信息） The resident's pseudonymous reference",
    "masked_phone": "脱敏电话 The phone number, masked",
    "type": "诉求类型 The complaint's type",
    "report": "办理情况 What the unit reports it did",
    "audience": "接收方类别 Who the message was for",
    "recipient": "接收方 The recipient (an id, never an address)",
    "template": "消息模板 The message template",
    "attempt": "第几次尝试 Which attempt",
    "attempts": "尝试次数 How many attempts",
    "text": "诉求内容 What the resident said",
    "address": "地址 Where",
    "latitude": "纬度（WGS-84） Latitude",
    "longitude": "经度（WGS-84） Longitude",
    "filed_at": "受理时间 When it was filed",
    "priority": "紧急程度 Priority",
    "purpose": "用途 What it is for",
    "round": "第几轮办理（重办加一） The round of handling (a redo adds one)",
    "task": "交办任务 The task given",
    "satisfied": "是否满意 Whether the resident was satisfied",
    "resolved": "是否解决 Whether it was resolved",
    "satisfaction": "满意度 How satisfied",
    "rated_via": "评价方式 How the rating was given",
    "redo_count": "重办次数 How many redos",
    "supervisor_ids": "督办单位 The supervising units",
    "arbitrator_id": "裁定单位 The arbitrating unit",
    "decision": "决定 The decision",
    "verdict": "评议结论 The review's verdict",
    "confidence": "分类置信度 The classifier's confidence, 0–1",
    "classified_by": "分类者 Who or what classified it",
    "comment": "居民意见 The resident's comment",
    "sealed": "加密字段（仅受理服务可解） Sealed fields only intake can open",
    "checksum": "内容校验和 A checksum of what was loaded",
    "time_limit": "承诺时限（ISO 8601 时长） The promised time limit (ISO 8601 duration)",
    "error": "失败原因 Why it failed",
    "channels": "接收通知的方式 The channels notices go by",
    "outcomes": "各条消息的结果 What came of each message",
    "kind": "通知类别 What the notice is about",
    "starts_at": "开始时间（停水停电、会议） When it begins (an outage, a meeting)",
    "ends_at": "结束时间 When it ends",
    "send_at": "发送时间（为空则立即） When it is sent (none: at once)",
    # --- ballot ---
    "ballot_id": "表决/征求意见编号 The ballot's id",
    "household_ref": "户的代号（单元编码/随机码，不含门牌） A household's reference, no door",
    "households": "户的代号列表 Household references (unit code / random, no door)",
    "choice": "所选选项 The option chosen",
    "title": "名称 The title",
    "proposal": "表决事项 What was put to the households",
    "options": "选项 The options",
    "tally": "各选项票数 Votes per option",
    "cost_shares": "联合出资：谁出多少 Who pays what",
    # --- committee ---
    "dispatcher_id": "派单人（业委会或社区居委会） The committee that dispatched by hand",
    "lead_id": "选定的主办单位 The lead unit chosen",
    "co_ids": "选定的协办单位 The co-responders chosen",
    "committee_id": "点单的社区居委会 The community committee that called units in",
    "registration_id": "双报到登记编号 The 双报到 registration (unit or cadre)",
    "registration_ids": "双报到登记编号列表 The 双报到 registrations called in",
    "cadre": "报到干部姓名 The registered cadre's name",
    "done": "当场做了什么（随手做） What was done on the spot",
    "worker": "处置人（网格员/网格长） Who fixed it",
    "patroller": "巡查人（网格员/网格长） Who walked the patrol",
    "findings": "巡查发现的问题 The matters found on the walk",
    "outcome": "处置结果 What became of it",
    "media_urls": "图片/视频链接 Photo and video links",
}

# The suffix rules for names not in FIELDS: when, which ids.
_SUFFIXES = (
    ("_at", "时间 When: {}"),
    ("_ids", "编号列表 The ids of: {}"),
    ("_id", "编号 The id of: {}"),
)

ENUMS: dict[str, Mapping[Any, str]] = {
    "ComplaintStatus": labels.STATUS,
    "ComplaintType": labels.TYPE,
    "Channel": labels.CHANNEL,
    "Satisfaction": labels.SATISFACTION,
    "RatedVia": labels.RATED_VIA,
    "ResponderRole": labels.ROLE,
    "Audience": labels.AUDIENCE,
    "ClockName": labels.CLOCK,
    "MatterKind": labels.MATTER_KIND,
    "MatterStatus": labels.MATTER_STATUS,
    "PriorityTier": labels.TIER,
    "AreaLevel": labels.AREA_LEVEL,
    "NoticeKind": labels.NOTICE_KIND,
    "NoticeChannel": labels.NOTICE_CHANNEL,
    "FindingOutcome": labels.FINDING_OUTCOME,
}


def field(name: str) -> str | None:
    """What a field of this name means, or None."""
    if name in FIELDS:
        return FIELDS[name]
    for suffix, words in _SUFFIXES:
        if name.endswith(suffix):
            return words.format(name.removesuffix(suffix).replace("_", " "))
    return None


def enum(name: str) -> str | None:
    """An enum's values with their words, or None for an enum without a label table."""
    table = ENUMS.get(name)
    if table is None:
        return None
    return "取值 Values: " + "; ".join(
        f"{key.value if isinstance(key, Enum) else key} {words}" for key, words in table.items()
    )
