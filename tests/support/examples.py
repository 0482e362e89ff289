"""Test data builders: realistic complaints (wording from the seed reports) without copy-pasted dicts."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events import (
    Audience,
    Channel,
    ComplaintClassified,
    ComplaintFiled,
    ComplaintMerged,
    ComplaintStatus,
    ComplaintType,
    ComplaintUnmerged,
    NotificationDelivered,
    ResponderRole,
    WorkOrderContacted,
    WorkOrderIssued,
    WorkOrderStarted,
)

# (category, area code, address, what the resident says)
SITUATIONS = [
    (
        "roof-leak",
        "370124001001-G01-B02-U1",
        "玫城丽都小区2号楼1单元602",
        "每逢下雨顶楼就漏雨，墙皮大片脱落，家里老人很着急",
    ),
    (
        "ebike-charging",
        "370124002002-G01-B01",
        "翠屏花园A座楼道",
        "楼道里有人私拉电线给电动车充电，存在火灾隐患",
    ),
    (
        "parking",
        "370124001001-G01",
        "玫城丽都小区北门",
        "北门是机动车唯一出入口，上下班高峰乱停车，经常发生剐蹭",
    ),
    (
        "property-certificate",
        "370124001001",
        "会仙山社区玫城丽都",
        "小区交房多年，不动产权证一直办不下来，希望有关部门协调",
    ),
    (
        "road-damage",
        "370124002001-G01",
        "锦水园小区内部道路",
        "小区内道路破损严重，坑洼积水，老人出行不便",
    ),
    ("sanitation", "370124001002-G01-B01", "东关小区3号楼东侧", "垃圾桶满溢无人清运，气味很大"),
    ("street-lights", "370124002002-G02", "翠屏巷7号院门口", "巷口路灯坏了一个多月，晚上漆黑一片"),
    (
        "neighbour-dispute",
        "370124002001-G01-B02",
        "锦水园小区9号楼",
        "楼上邻居夜间噪音扰民，多次沟通无果",
    ),
    (
        "gas-leak",
        "370124001002-G01-B02",
        "东关小区5号楼2单元",
        "楼道里有很重的燃气味，请马上派人查看",
    ),
    ("other", "370124002001", "锦水园社区", "社区花园石桌松动，存在安全隐患"),
]

_phones = itertools.count(13800000000)


def complaint_request(index: int = 0, **overrides: Any) -> dict[str, Any]:
    """A POST /complaints body; `index` picks a situation, the phone is unique per call."""
    category, area, address, text = SITUATIONS[index % len(SITUATIONS)]
    body: dict[str, Any] = {
        "channel": list(Channel)[index % len(Channel)].value,
        "text": text,
        "area_code": area,
        "address": f"济南市平阴县{address}",
        "contact": {"name": "李君", "phone": str(next(_phones))},
    }
    if category:
        body["category"] = category
        body["type"] = "help"
    if category == "roof-leak":
        body["attributes"] = {"floor": 6, "leak_location": "roof"}
    body.update(overrides)
    return body


STAFF_KEY = {"X-API-Key": "dev-key-staff"}
ADMIN_KEY = {"X-API-Key": "dev-key-admin"}
NOTIFY_KEY = {"X-API-Key": "dev-key-notify"}  # intake's key for the notification service
# Reporting's development key for cases and agendas: a supervisor of the whole city.
READER = {"X-API-Key": "dev-key-supervisor"}


def channel_key(channel: str) -> dict[str, str]:
    return {"X-API-Key": f"dev-key-{channel}"}


def complaint_filed(**overrides: Any) -> ComplaintFiled:
    fields: dict[str, Any] = {
        "complaint_id": uuid.uuid4(),
        "case_number": "JS-20261124-000001",
        "channel": Channel.HOTLINE,
        "text": SITUATIONS[0][3],
        "category": "roof-leak",
        "area_code": SITUATIONS[0][1],
        "address": SITUATIONS[0][2],
        "resident_ref": "R-0123456789abcdef0123",
        "masked_phone": "138****5678",
        "filed_at": datetime.now(UTC),
    }
    fields.update(overrides)
    return ComplaintFiled(**fields)


def complaint_merged(
    duplicate: ComplaintFiled, survivor: ComplaintFiled, at: datetime | None = None
) -> ComplaintMerged:
    """Staff merged `duplicate` into `survivor` (并案)."""
    return ComplaintMerged(
        complaint_id=duplicate.complaint_id,
        status=ComplaintStatus.MERGED,
        into_complaint_id=survivor.complaint_id,
        into_case_number=survivor.case_number,
        previous_status=ComplaintStatus.CLASSIFIED,
        reason="同一楼顶漏水",
        actor="staff:王",
        occurred_at=at or datetime.now(UTC),
    )


def complaint_unmerged(
    duplicate: ComplaintFiled, survivor: ComplaintFiled, at: datetime | None = None
) -> ComplaintUnmerged:
    return ComplaintUnmerged(
        complaint_id=duplicate.complaint_id,
        status=ComplaintStatus.CLASSIFIED,
        from_complaint_id=survivor.complaint_id,
        reason="不是同一问题",
        actor="staff:王",
        occurred_at=at or datetime.now(UTC),
    )


def complaint_classified(
    complaint_id: uuid.UUID | None = None,
    category: str = "roof-leak",
    area_code: str = SITUATIONS[0][1],
    **overrides: Any,
) -> ComplaintClassified:
    """What intake publishes once it knows what a complaint is about (dispatch routes on it)."""
    fields: dict[str, Any] = {
        "complaint_id": complaint_id or uuid.uuid4(),
        "status": ComplaintStatus.CLASSIFIED,
        "type": ComplaintType.HELP,
        "category": category,
        "confidence": 0.93,
        "type_confidence": 0.9,
        "classified_by": "auto",
        "needs_triage": False,
        "area_code": area_code,
        "occurred_at": datetime.now(UTC),
    }
    fields.update(overrides)
    return ComplaintClassified(**fields)


def work_order_issued(complaint_id: uuid.UUID | None = None, **overrides: Any) -> WorkOrderIssued:
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "work_order_id": uuid.uuid4(),
        "complaint_id": complaint_id or uuid.uuid4(),
        "responder_id": "property-meicheng",
        "responder_name": "玫城丽都物业服务中心",
        "responder_kind": "property_company",
        "role": ResponderRole.LEAD,
        "category": "roof-leak",
        "area_code": SITUATIONS[0][1],
        "rule_id": "R01",
        "catalogue_version": 1,
        "reason": "派单目录规则 R01",
        "priority": "general",
        "due_at": now + timedelta(days=7),
        "issued_at": now,
    }
    fields.update(overrides)
    return WorkOrderIssued(**fields)


def work_order_step(
    step: str, order: WorkOrderIssued, at: datetime | None = None
) -> WorkOrderContacted | WorkOrderStarted:
    """The unit of `order` reached the resident (`contacted`) or began the work (`started`)."""
    common: dict[str, Any] = {
        "work_order_id": order.work_order_id,
        "complaint_id": order.complaint_id,
        "responder_id": order.responder_id,
        "actor": f"responder:{order.responder_id}",
    }
    at = at or order.issued_at
    if step == "contacted":
        return WorkOrderContacted(
            **common,
            note="电话联系诉求人，约定明早上门查看",
            contacted_at=at,
            role=order.role,
            responder_name=order.responder_name,
        )
    return WorkOrderStarted(**common, note="维修师傅已到场", started_at=at)


def notification_delivered(complaint_id: uuid.UUID, **overrides: Any) -> NotificationDelivered:
    fields: dict[str, Any] = {
        "notification_id": uuid.uuid4(),
        "complaint_id": complaint_id,
        "audience": Audience.RESIDENT,
        "recipient": "R-0123456789abcdef0123",
        "channel": "webhook",
        "template": "complaint_receipt",
        "attempt": 1,
        "delivered_at": datetime.now(UTC),
    }
    fields.update(overrides)
    return NotificationDelivered(**fields)


def filing(**overrides: Any) -> Any:
    """What intake decides at filing besides the command (domain.decisions.Filing)."""
    from services.intake.domain.decisions import Filing
    from shared.events import ComplaintType

    fields: dict[str, Any] = {
        "complaint_id": uuid.uuid4(),
        "case_number": "JS-20261124-000001",
        "resident_ref": "R-0123456789abcdef0123",
        "filed_at": datetime.now(UTC),
        "type": ComplaintType.HELP,
        "type_confidence": 0.9,
        "category": "roof-leak",
        "confidence": 0.9,
        "classified_by": "auto",
        "needs_triage": False,
    }
    fields.update(overrides)
    return Filing(**fields)
