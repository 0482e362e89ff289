"""Reporting's pure rules: a case's status and the words of its timeline."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from shared.events import (
    ComplaintFiled,
    NotificationDelivered,
    NotificationFailed,
    ResponderRole,
    WorkOrderIssued,
)


class CaseStatus(StrEnum):
    PENDING = "pending"  # 事件未齐 (a later event arrived before the filing)
    FILED = "filed"  # 已受理
    DISPATCHED = "dispatched"  # 已派单


STATUS_LABELS = {
    CaseStatus.PENDING: "处理中",
    CaseStatus.FILED: "已受理",
    CaseStatus.DISPATCHED: "已派单",
}


def case_status(case: dict[str, Any]) -> CaseStatus:
    if case.get("lead_responder_id"):
        return CaseStatus.DISPATCHED
    if case.get("filed_at"):
        return CaseStatus.FILED
    return CaseStatus.PENDING


def summarise_filed(event: ComplaintFiled) -> str:
    return f"诉求已受理，编号 {event.case_number}（渠道 {event.channel.value}）"


def summarise_issued(event: WorkOrderIssued) -> str:
    role = "主办" if event.role == ResponderRole.LEAD else "协办"
    return f"派单至 {event.responder_name}（{role}）：{event.reason}"


def summarise_delivered(event: NotificationDelivered) -> str:
    who = "诉求人" if event.audience == "resident" else "承办单位"
    return f"已通知{who}（{event.channel}，第 {event.attempt} 次）"


def summarise_failed(event: NotificationFailed) -> str:
    who = "诉求人" if event.audience == "resident" else "承办单位"
    later = "，将重试" if event.retry_at else "，已放弃"
    return f"通知{who}失败（第 {event.attempt} 次）：{event.error}{later}"


# Intake's lifecycle steps as the timeline names them (the full board is built from these later).
LIFECYCLE_LABELS = {
    "ComplaintClassified": "已分类",
    "ComplaintReclassified": "人工重新分类",
    "ComplaintAnswered": "直接办结",
    "DuplicateSuspected": "疑似重复",
    "DuplicateDismissed": "确认非重复",
    "ComplaintMerged": "并案",
    "ComplaintUnmerged": "取消并案",
    "ComplaintWithdrawn": "诉求人撤回",
    "ComplaintDispatched": "受理方确认已派单",
    "ComplaintSigned": "承办单位已签收",
    "ComplaintResolved": "承办单位已反馈",
    "ComplaintCallbackRecorded": "回访",
    "ComplaintRedoRequested": "重办",
    "ComplaintClosed": "办结",
}


def summarise_lifecycle(event_type: str, status: str) -> str:
    return f"{LIFECYCLE_LABELS.get(event_type, event_type)}（状态 {status}）"
