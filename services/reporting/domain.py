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


# Dispatch's steps on a case, as the timeline names them (全程留痕).
DISPATCH_LABELS = {
    "WorkOrderSigned": "已签收",
    "WorkOrderContacted": "已联系诉求人",
    "WorkOrderStarted": "开始办理",
    "ExtensionRequested": "申请延期",
    "ExtensionApproved": "批准延期",
    "ExtensionRefused": "驳回延期",
    "WorkOrderResolved": "办理反馈",
    "WorkOrderReturned": "退单",
    "WorkOrderCancelled": "工单撤销",
    "WorkOrderUrged": "催办",
    "CaseResolved": "各承办单位均已办结",
    "CaseCancelled": "派单终止",
    "CaseReclassified": "按新类别重新派单",
    "ArbitrationRequested": "提请裁定",
    "ArbitrationDecided": "裁定承办单位",
    "SlaWarned": "时限预警",
    "SlaBreached": "超期",
    "CaseEscalated": "超期升级督办",
    "WhistleBlown": "吹哨报到",
    "CaseSupervised": "督办",
    "DeliberationRequested": "提交社区议事",
    "DeliberationConcluded": "议事决定",
    "AgendaItemOpened": "议事：收集问题",
    "AgendaTopicSet": "议事：确定议题",
    "DeliberationHeld": "议事：协商议事",
    "AgendaDecided": "议事：分流落实",
    "AgendaReviewed": "议事：监督评审",
    "AgendaItemRaised": "议事：提交区县大党委联席会议",
}
_CLOCKS = {"sign": "签收", "contact": "联系诉求人", "feedback": "办理反馈"}


def summarise_dispatch(event: Any) -> str:
    """The step, who, and the words that matter (a reason, a report, a clock)."""
    label = DISPATCH_LABELS.get(event.event_type, event.event_type)
    who = getattr(event, "responder_name", None) or getattr(event, "responder_id", None)
    detail = next(
        (
            str(getattr(event, name))
            for name in ("report", "reason", "note", "decision", "topic", "verdict", "minutes")
            if getattr(event, name, None)
        ),
        "",
    )
    clock = _CLOCKS.get(getattr(event, "clock", None) or "")
    parts = [
        label,
        f"（{who}）" if who else "",
        f"：{clock}时限" if clock else "",
        f"：{detail}" if detail else "",
    ]
    return "".join(parts)
