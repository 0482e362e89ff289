"""Reporting's pure rules: a case's status and the words of its timeline."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import cache
from typing import Any, NamedTuple

from shared.events import (
    ComplaintAnswered,
    ComplaintCallbackRecorded,
    ComplaintClassified,
    ComplaintClosed,
    ComplaintDispatched,
    ComplaintFiled,
    ComplaintMerged,
    ComplaintReclassified,
    ComplaintRedoRequested,
    ComplaintResolved,
    ComplaintSigned,
    ComplaintUnmerged,
    ComplaintWithdrawn,
    DuplicateDismissed,
    DuplicateSuspected,
    Event,
    NotificationAbandoned,
    NotificationDelivered,
    NotificationFailed,
    NotificationOutcome,
    NotificationRedriven,
    OnSpotFixRecorded,
    WorkOrderIssued,
    labels,
)
from shared.events.area import enclosing


class CaseStatus(StrEnum):
    """A case's status: intake's, moved on by what dispatch already knows."""

    PENDING = "pending"  # 事件未齐 (a later event arrived before the filing)
    FILED = "filed"
    TRIAGE = "triage"
    CLASSIFIED = "classified"
    ANSWERED = "answered"
    DISPATCHED = "dispatched"
    SIGNED = "signed"
    RESOLVED = "resolved"
    CALLED_BACK = "called_back"
    REDO = "redo"
    MERGED = "merged"
    WITHDRAWN = "withdrawn"
    CLOSED = "closed"


STATUS_LABELS = {
    CaseStatus.PENDING: "处理中",
    **{CaseStatus(status): label for status, label in labels.STATUS.items()},
}
# Open311 knows open and closed only (as intake's Open311 door says it).
CLOSED = frozenset({"answered", "resolved", "called_back", "merged", "withdrawn", "closed"})
_BEFORE_DISPATCH = frozenset({CaseStatus.FILED, CaseStatus.TRIAGE, CaseStatus.CLASSIFIED})


def case_status(case: dict[str, Any]) -> CaseStatus:
    """Intake's status; when dispatch's events came first, what they already show."""
    status = CaseStatus(case["status"]) if case.get("status") else None
    lead = bool(case.get("lead_responder_id"))
    if status is None:
        if lead:
            return CaseStatus.DISPATCHED
        return CaseStatus.FILED if case.get("filed_at") else CaseStatus.PENDING
    if lead and status in _BEFORE_DISPATCH:
        return CaseStatus.DISPATCHED
    return status


class Stage(StrEnum):
    """Where an open matter stands on the public board 督办墙."""

    WAITING = "waiting"  # 待派单
    TO_SIGN = "to_sign"  # 待签收
    HANDLING = "handling"  # 办理中
    DELIBERATING = "deliberating"  # 议事中（办理时限暂停）
    REPORTED = "reported"  # 已反馈，待回访
    REDO = "redo"  # 重办


STAGE_LABELS = {
    Stage.WAITING: "待派单",
    Stage.TO_SIGN: "待签收",
    Stage.HANDLING: "办理中",
    Stage.DELIBERATING: "议事中（办理时限暂停）",
    Stage.REPORTED: "已反馈，待回访",
    Stage.REDO: "重办中",
}


def board_stage(row: dict[str, Any]) -> Stage:
    if row.get("deliberating"):
        return Stage.DELIBERATING
    if row.get("dispatch_state") == "resolved" or row.get("status") in ("resolved", "called_back"):
        return Stage.REPORTED
    if not row.get("lead_work_order_id"):
        return Stage.WAITING
    if row.get("status") == "redo" and not row.get("signed_at"):
        return Stage.REDO
    if not row.get("signed_at"):
        return Stage.TO_SIGN
    return Stage.HANDLING


def overdue_text(seconds: float) -> str:
    """剩余 2天3小时 / 超期 5小时 (the board's words for the time left)."""
    left = abs(int(seconds))
    days, rest = divmod(left, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = (f"{days}天" if days else "") + (f"{hours}小时" if hours else "")
    parts = parts or f"{minutes}分钟"
    return f"剩余{parts}" if seconds >= 0 else f"超期{parts}"


class Decision(NamedTuple):
    """Why a step was decided: the reason, and for a routing the catalogue rule and version."""

    reason: str
    rule_id: str | None = None
    rule_version: int | None = None


def summarise_filed(event: ComplaintFiled) -> str:
    return f"诉求已受理，编号 {event.case_number}（渠道 {event.channel.value}）"


def summarise_issued(event: WorkOrderIssued) -> str:
    return f"派单至 {event.responder_name}（{labels.ROLE[event.role]}）：{event.reason}"


def summarise_notification(o: NotificationOutcome) -> str:
    if o.outcome == "redriven":
        return f"通知已重新发送（{o.channel}，操作人 {o.actor}）"
    who = labels.AUDIENCE[o.audience]
    if o.outcome == "delivered":
        return f"已通知{who}（{o.channel}，第 {o.attempt} 次）"
    if o.outcome == "failed":
        later = "，将重试" if o.retry_at else "，已放弃"
        return f"通知{who}失败（第 {o.attempt} 次）：{o.error}{later}"
    return f"通知{who}未能送达，转入待处理（{o.channel}，共 {o.attempt} 次）：{o.error}"


def as_outcome(
    e: NotificationDelivered | NotificationFailed | NotificationAbandoned | NotificationRedriven,
) -> NotificationOutcome:
    """A per-message event of the history before `NotificationsRecorded`, as its outcome."""
    if isinstance(e, NotificationRedriven):
        # Those named no audience, recipient, template or attempt (nothing reads them for a
        # redrive): left empty, unvalidated.
        return NotificationOutcome.model_construct(
            notification_id=e.notification_id,
            outcome="redriven",
            audience=None,  # type: ignore[arg-type]
            recipient="",
            template="",
            attempt=0,
            channel=e.channel,
            actor=e.actor,
            at=e.redriven_at,
        )
    common = {
        "notification_id": e.notification_id,
        "audience": e.audience,
        "recipient": e.recipient,
        "channel": e.channel,
        "template": e.template,
    }
    if isinstance(e, NotificationDelivered):
        return NotificationOutcome(
            **common, outcome="delivered", attempt=e.attempt, at=e.delivered_at
        )
    if isinstance(e, NotificationFailed):
        return NotificationOutcome(
            **common,
            outcome="failed",
            attempt=e.attempt,
            error=e.error,
            retry_at=e.retry_at,
            at=e.failed_at,
        )
    return NotificationOutcome(
        **common, outcome="abandoned", attempt=e.attempts, error=e.reason, at=e.abandoned_at
    )


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
    "OnSpotFixRecorded": "随手做，当场解决",
}


LIFECYCLE: tuple[type[Event], ...] = (
    ComplaintClassified,
    ComplaintReclassified,
    ComplaintAnswered,
    DuplicateSuspected,
    DuplicateDismissed,
    ComplaintMerged,
    ComplaintUnmerged,
    ComplaintWithdrawn,
    ComplaintDispatched,
    ComplaintSigned,
    ComplaintResolved,
    ComplaintCallbackRecorded,
    ComplaintRedoRequested,
    ComplaintClosed,
    OnSpotFixRecorded,
)


def classified_because(e: ComplaintClassified) -> Decision:
    who = "自动分类" if e.classified_by == "auto" else "渠道指定"
    triage = "，置信度不足，转人工分拣" if e.needs_triage else ""
    return Decision(f"{who} {e.category}（置信度 {e.confidence:.0%}）{triage}")


def reclassified_because(e: ComplaintReclassified) -> Decision:
    return Decision(f"{e.previous_category or '—'} → {e.category}：{e.reason}（{e.actor}）")


def issued_because(e: WorkOrderIssued) -> Decision:
    return Decision(e.reason, e.rule_id, e.catalogue_version)


# The decisions a timeline line explains: why (and, for routing, by which catalogue rule in
# which version of the catalogue). Other steps carry their detail in their summary.
DECISIONS: dict[type[Event], Callable[[Any], Decision]] = {
    ComplaintClassified: classified_because,
    ComplaintReclassified: reclassified_because,
    WorkOrderIssued: issued_because,
}


def trace_id(traceparent: str | None) -> str | None:
    """The trace a W3C `traceparent` (00-<trace id>-<span id>-<flags>) belongs to; None if
    absent or malformed."""
    parts = (traceparent or "").split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or parts[1] == "0" * 32:
        return None
    try:
        int(parts[1], 16)
    except ValueError:
        return None
    return parts[1]


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
    "CaseHandDispatched": "业委会派单",
    "CommunityCalled": "社区点单",
    "GroupReplyPosted": "值班人员在居民微信群内公开回复",
}


_WHO = ("responder_name", "responder_id", "dispatcher_name", "committee_id")
_DETAILS = ("report", "reason", "note", "decision", "topic", "verdict", "minutes", "reply")


@cache
def _named(event_class: type[Event]) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """Which of the names a summary looks for `event_class` has: who, the details, a clock.
    Asked of a pydantic model, a name it lacks goes through its `__getattr__` and an
    AttributeError, many times slower than one it has (a rebuild summarises every step)."""

    def has(name: str) -> bool:
        return name in event_class.model_fields or hasattr(event_class, name)

    return (
        tuple(filter(has, _WHO)),
        tuple(filter(has, _DETAILS)),
        has("clock"),
    )


def summarise_dispatch(event: Any) -> str:
    """The step, who, and the words that matter (a reason, a report, a clock)."""
    kind: type[Event] = type(event)
    who_names, detail_names, has_clock = _named(kind)
    label = DISPATCH_LABELS.get(event.event_type, event.event_type)
    who = next((value for name in who_names if (value := getattr(event, name))), None)
    detail = next(
        (str(value) for name in detail_names if (value := getattr(event, name))),
        "",
    )
    clock = labels.label_of(labels.CLOCK, event.clock if has_clock else None)
    parts = [
        label,
        f"（{who}）" if who else "",
        f"：{clock}时限" if clock else "",
        f"：{detail}" if detail else "",
    ]
    return "".join(parts)


def place_columns(area_code: str | None) -> dict[str, Any]:
    """A read-model row's place: the finest code known, and its enclosing levels."""
    levels = enclosing(area_code)
    return {
        "area_code": area_code,
        "district_code": levels.district,
        "street_code": levels.street,
        "community_code": levels.community,
        "grid_code": levels.grid,
        "place_code": levels.place,
    }
