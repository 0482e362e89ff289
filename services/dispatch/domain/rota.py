"""The residents' WeChat group on a duty rota (seed 002: 居民微信群安排“两委”班子成员24小时轮班
值守…1小时内在群内公开回复群众诉求): a message in a community's group goes to the member on duty
when it was posted, with one clock, the public reply; the demand itself is routed by the
catalogue as any other. Pure: events out."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from services.dispatch.domain.case import CO, Case, OrderStatus, Purpose, WorkOrder, then
from services.dispatch.domain.city import ResponderKind
from services.dispatch.domain.orders import completion
from services.dispatch.domain.rules import IllegalTransition, Rules, issue, require
from shared.deadlines import ClockName, PriorityTier
from shared.events import Event, GroupReplyPosted
from shared.events.area import AreaLevel


def group_message(
    case: Case | None,
    complaint_id: UUID,
    area_code: str,
    posted_at: datetime,
    rules: Rules,
    now: datetime,
) -> list[Event]:
    """A resident's message in the community's group: an order to the member on duty when it
    was posted (the rota), else to the community committee, to reply in the group within the
    city's `group_reply` limit. Its clock starts when the order is issued, as every clock does."""
    if case is not None and any(o.purpose is Purpose.GROUP_REPLY for o in case.orders):
        return []  # the same message again: it has its order
    model = rules.model
    shift = model.rota.on_duty(model.enclosing(area_code, AreaLevel.COMMUNITY), posted_at)
    on_duty = model.responders.get(shift.responder) if shift else None
    if shift is not None and on_duty is not None:
        person = on_duty
        reason = (
            f"居民微信群诉求，按值班表由值班人员{person.name}（班次 {shift.id}，{shift.start}–"
            f"{shift.end}）1小时内在群内公开回复 A group message: the member on duty replies"
        )
    else:
        person = model.nearest(area_code, ResponderKind.COMMUNITY_COMMITTEE) or (
            model.nearest(area_code, ResponderKind.STREET_OFFICE) or model.government(area_code)
        )
        reason = (
            f"居民微信群诉求，值班表此时无人值班，由{person.name}在群内公开回复 "
            "A group message with nobody on the rota now: the community committee replies"
        )
    limit = model.time_limits.group_reply
    return [
        issue(
            rules,
            complaint_id=complaint_id,
            responder=person,
            role=CO,
            purpose=Purpose.GROUP_REPLY,
            category=case.category if case else None,
            area_code=area_code,
            priority=PriorityTier(case.priority) if case else PriorityTier.GENERAL,
            reason=reason,
            now=now,
            round=case.round if case else 1,
            clocks=[rules.clock(ClockName.GROUP_REPLY, now, limit)],
        )
    ]


def post_reply(
    case: Case, order: WorkOrder, reply: str, actor: str, now: datetime, rules: Rules
) -> list[Event]:
    """The member on duty replied in the group: the order is done (and the case, if its
    handling was done and waited for the reply)."""
    if order.purpose is not Purpose.GROUP_REPLY:
        raise IllegalTransition("这不是微信群值班回复工单 Not a group-reply order")
    require(order, frozenset({OrderStatus.ISSUED, OrderStatus.SIGNED}), "在群内回复")
    community = rules.model.enclosing(case.area_code, AreaLevel.COMMUNITY) or case.area_code
    events: list[Event] = [
        GroupReplyPosted(
            work_order_id=order.work_order_id,
            complaint_id=case.complaint_id,
            responder_id=order.responder.id,
            responder_name=order.responder.name,
            community_code=community,
            reply=reply,
            actor=actor,
            replied_at=now,
        )
    ]
    return events + completion(then(case, events), now)
