"""Notify's pure decisions: who hears what about an event, and in which words."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import yaml

from shared.events import Audience, ComplaintFiled, ResponderRole, WorkOrderIssued

TEMPLATES = Path(__file__).with_name("templates.yaml")
CHINA = ZoneInfo("Asia/Shanghai")
ROLE_LABELS = {ResponderRole.LEAD: "主办", ResponderRole.CO: "协办"}


@dataclass(frozen=True, slots=True)
class Message:
    complaint_id: UUID
    audience: Audience
    recipient: str
    template: str
    data: dict[str, Any] = field(default_factory=dict)


@cache
def templates() -> dict[str, dict[str, str]]:
    loaded: dict[str, dict[str, str]] = yaml.safe_load(TEMPLATES.read_text(encoding="utf-8"))
    return loaded


def render(template: str, locale: str, data: dict[str, Any]) -> str:
    texts = templates()[template]
    return texts.get(locale, texts["zh-CN"]).format(**data)


def receipt_for_resident(event: ComplaintFiled) -> list[Message]:
    """Only the resident's own case: a resident is never sent another resident's data."""
    return [
        Message(
            complaint_id=event.complaint_id,
            audience=Audience.RESIDENT,
            recipient=event.resident_ref,
            template="complaint_receipt",
            data={"case_number": event.case_number, "masked_phone": event.masked_phone},
        )
    ]


def notice_for_responder(event: WorkOrderIssued) -> list[Message]:
    return [
        Message(
            complaint_id=event.complaint_id,
            audience=Audience.RESPONDER,
            recipient=event.responder_id,
            template="work_order_issued",
            data={
                "complaint_id": str(event.complaint_id),
                "work_order_id": str(event.work_order_id),
                "responder_name": event.responder_name,
                "role_label": ROLE_LABELS[event.role],
                "category_label": event.category or "未分类",
                "due_at": f"{event.due_at.astimezone(CHINA):%Y-%m-%d %H:%M}",
            },
        )
    ]
