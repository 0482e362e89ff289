"""What a person reads about a complaint: each step in words (the status note, the resident's
progress page), its case number, and times as they are read in China. The labels of the
contract's enums are shared/events/labels'."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from shared.events import (
    NO_RESIDENT,
    ComplaintAnswered,
    ComplaintCallbackRecorded,
    ComplaintClassified,
    ComplaintClosed,
    ComplaintDispatched,
    ComplaintFiled,
    ComplaintMerged,
    ComplaintProgressed,
    ComplaintReclassified,
    ComplaintRedacted,
    ComplaintRedoRequested,
    ComplaintResolved,
    ComplaintSigned,
    ComplaintStatus,
    ComplaintUnmerged,
    ComplaintWithdrawn,
    DuplicateDismissed,
    DuplicateSuspected,
    Event,
    OnSpotFixRecorded,
    RatedVia,
    TriageBreached,
    TriageWarned,
    labels,
)

CHINA = ZoneInfo("Asia/Shanghai")


def in_china(moment: datetime) -> str:
    """2026-12-01 09:00: a moment to the minute, as the clock in China shows it."""
    return f"{moment.astimezone(CHINA):%Y-%m-%d %H:%M}"


def describe(event: Event) -> str:
    match event:
        case ComplaintFiled(promised_due_at=datetime() as due):
            return f"诉求已受理，编号 {event.case_number}，将于 {in_china(due)} 前办理反馈"
        case ComplaintFiled() if event.resident_ref == NO_RESIDENT:
            return f"网格员巡查发现，编号 {event.case_number}"
        case ComplaintFiled():
            return f"诉求已受理，编号 {event.case_number}"
        case ComplaintClassified(needs_triage=True):
            return "已受理，等待工作人员分类"
        case ComplaintClassified() if event.status is ComplaintStatus.FILED:
            return f"已分类为「{labels.TYPE[event.type]}」，无需派单"
        case ComplaintClassified():
            return f"已分类为「{labels.TYPE[event.type]}」，等待派单"
        case ComplaintReclassified():
            return f"工作人员已分类为「{labels.TYPE[event.type]}」"
        case ComplaintAnswered():
            return f"已直接答复：{event.answer}"
        case DuplicateSuspected():
            numbers = "、".join(c.case_number for c in event.candidates)
            return f"疑似与 {numbers} 重复，待工作人员确认"
        case DuplicateDismissed():
            return "经确认不属于重复诉求"
        case ComplaintMerged():
            return f"已与诉求 {event.into_case_number} 并案办理"
        case ComplaintUnmerged():
            return "已取消并案，单独办理"
        case ComplaintWithdrawn():
            return "诉求人已撤回诉求"
        case ComplaintDispatched():
            return f"已派单至{event.responder_name}，办理时限 {in_china(event.due_at)}"
        case ComplaintSigned():
            return f"{event.responder_name}已签收，正在办理"
        case ComplaintResolved():
            return f"承办单位已办理反馈：{event.report}"
        case ComplaintCallbackRecorded(contacted=False):
            return "回访未能联系上诉求人"
        case ComplaintCallbackRecorded(rated_via=RatedVia.SMS | RatedVia.WECHAT | RatedVia.LINK):
            assert event.satisfaction is not None
            return f"诉求人已评价办理结果：{labels.SATISFACTION[event.satisfaction]}"
        case ComplaintCallbackRecorded():
            if event.satisfaction is not None:
                verdict = labels.SATISFACTION[event.satisfaction]
            else:
                verdict = "满意" if event.satisfied else "不满意"
            solved = "已解决" if event.resolved else "未解决"
            return f"已回访：{solved}，{verdict}"
        case ComplaintRedoRequested():
            return f"诉求人不满意，已重新办理（第 {event.redo_count} 次重办）"
        case ComplaintClosed():
            return "诉求已办结"
        case OnSpotFixRecorded():
            by = event.worker or "网格员"
            return f"{by}随手做，已当场解决并办结：{event.done}"
        case ComplaintRedacted():
            return "诉求人已要求删除个人信息"
        case ComplaintProgressed():
            return event.note
        case TriageWarned():
            return f"待人工受理，受理时限 {in_china(event.due_at)} 将至"
        case TriageBreached():
            return f"已超过受理时限（{in_china(event.due_at)}），待人工受理"
    return event.event_type


def case_number(sequence: int, filed_at: datetime) -> str:
    """Human-readable and unique: JS-<date in China>-<sequence>."""
    return f"JS-{filed_at.astimezone(CHINA):%Y%m%d}-{sequence:06d}"
