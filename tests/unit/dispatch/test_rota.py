"""The duty rota of a community's residents' WeChat group, the group-reply order, and the
政务事项 with their one clock: pure decisions (seed 002)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.dispatch.domain import orders, rota, service_matters
from services.dispatch.domain.case import CO, OrderStatus, Purpose
from services.dispatch.domain.city import CityFile
from services.dispatch.domain.duty import DutyShiftIn
from services.dispatch.domain.rules import IllegalTransition
from shared.deadlines import CHINA, ClockName
from shared.events import (
    CaseResolved,
    GroupReplyPosted,
    MatterKind,
    MatterStatus,
    ServiceMatterBreached,
    ServiceMatterWarned,
)
from tests.support.dispatch_builders import AREA, apply, demo_city, rules_for

MONDAY = datetime(2026, 11, 23, tzinfo=CHINA)  # a Monday


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """`day` days after Monday 2026-11-23, at hour:minute in China."""
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


def test_a_day_shift_covers_its_weekdays_between_its_hours_only():
    shift = DutyShiftIn(
        id="day", community="370124001001", responder="x", weekdays=[1, 2, 3, 4, 5],
        start="08:00", end="18:00",
    )  # fmt: skip
    assert shift.covers(at(0, 8)) and shift.covers(at(4, 17, 59))
    assert not shift.covers(at(0, 7, 59)) and not shift.covers(at(0, 18))
    assert not shift.covers(at(5, 10)), "Saturday is not its day"
    assert shift.covers(at(0, 2).astimezone(UTC) + timedelta(hours=8)), "any zone, China time"


def test_a_night_shift_runs_past_midnight_into_the_next_day():
    night = DutyShiftIn(
        id="night", community="370124001001", responder="x", weekdays=[5],
        start="18:00", end="08:00",
    )  # fmt: skip
    assert night.covers(at(4, 23)) and night.covers(at(5, 2)) and night.covers(at(5, 7, 59))
    assert not night.covers(at(5, 8)) and not night.covers(at(4, 2)), "Thursday night is not its"


def test_the_rota_names_only_people_who_serve_the_community():
    body = dict(demo_city())
    shift = {"id": "x", "community": "370124001001", "start": "08:00", "end": "18:00"}
    with pytest.raises(ValidationError, match="committee-cuiping does not serve 370124001001"):
        CityFile.model_validate(body | {"duty_rota": [shift | {"responder": "committee-cuiping"}]})
    with pytest.raises(ValidationError, match="unknown responder nobody"):
        CityFile.model_validate(body | {"duty_rota": [shift | {"responder": "nobody"}]})
    with pytest.raises(ValidationError, match="weekdays are 1 \\(Monday\\) to 7"):
        DutyShiftIn.model_validate(shift | {"responder": "x", "weekdays": [8]})


def test_a_group_message_at_two_goes_to_the_night_shift_with_one_hour_to_reply():
    rules = rules_for()
    posted = at(1, 2)
    events = rota.group_message(None, uuid.uuid4(), AREA, posted, rules, posted)
    (issued,) = events
    assert issued.responder_id == "member-huixianshan-wang" and issued.role is CO
    assert issued.purpose == Purpose.GROUP_REPLY
    (clock,) = issued.clocks
    assert clock.name == ClockName.GROUP_REPLY and clock.due_at - posted == timedelta(hours=1)
    case = apply(None, events)
    assert rota.group_message(case, case.complaint_id, AREA, posted, rules, posted) == []


def test_nobody_on_the_rota_leaves_the_reply_to_the_community_committee():
    rules = rules_for()
    (issued,) = rota.group_message(
        None, uuid.uuid4(), "370124002001-G01-B01", at(0, 10), rules, at(0, 10)
    )
    assert issued.responder_id == "committee-jinshuiyuan" and "无人值班" in issued.reason


def test_the_demand_is_routed_beside_the_reply_and_the_case_waits_for_the_reply():
    rules = rules_for()
    posted = at(0, 10)
    complaint_id = uuid.uuid4()
    case = apply(None, rota.group_message(None, complaint_id, AREA, posted, rules, posted))
    routed = orders.first_dispatch(case, complaint_id, "street-lights", AREA, rules, posted)
    assert routed and routed[0].responder_id == "dept-municipal"
    assert routed[0].purpose == Purpose.DISPATCH, "a first dispatch, not a reroute"
    case = apply(case, routed)
    lead = case.lead
    assert lead is not None
    for step in (orders.sign, orders.contact):
        case = apply(case, step(case, lead, "dept", "ok", posted))  # type: ignore[operator]
        lead = case.lead
        assert lead is not None
    resolved = orders.resolve(case, lead, "路灯已修复", "dept", posted)
    assert not any(isinstance(e, CaseResolved) for e in resolved), "the group waits for a reply"
    case = apply(case, resolved)
    reply = next(o for o in case.orders if o.purpose is Purpose.GROUP_REPLY)
    replied = rota.post_reply(case, reply, "路灯已修好，感谢大家反映", "wang", posted, rules)
    assert isinstance(replied[0], GroupReplyPosted) and replied[0].community_code == "370124001001"
    assert isinstance(replied[1], CaseResolved)
    case = apply(case, replied)
    done = case.order(reply.work_order_id)
    assert done is not None and done.status is OrderStatus.RESOLVED
    assert done.report == "路灯已修好，感谢大家反映"
    with pytest.raises(IllegalTransition):
        rota.post_reply(case, case.orders[1], "x", "wang", posted, rules)


def test_a_matter_is_due_by_its_kind_warns_once_breaches_once_and_names_no_applicant():
    rules = rules_for()
    now = at(0, 9)
    opened = service_matters.open_matter(
        rules,
        kind=MatterKind.ELDERLY_ALLOWANCE,
        title="尊老金发放",
        area_code="370124001001-G01-B02-U1",
        responder_id="member-huixianshan-zhang",
        person=None,
        actor="responder:张丽",
        now=now,
    )
    assert opened.community_code == "370124001001" and opened.person == "张丽"
    assert opened.time_limit == "10wd" and opened.due_at > now + timedelta(days=13)
    assert "area_code" not in type(opened).model_fields, "no place finer than the community"
    matter = service_matters.fold([opened])
    assert matter is not None
    warning, breach = sorted(service_matters.timers(matter), key=lambda t: t.fire_at)
    assert warning.kind == "warning" and breach.kind == "breach"
    (warned,) = service_matters.fire(matter, warning, warning.fire_at, rules)
    assert isinstance(warned, ServiceMatterWarned)
    matter = service_matters.evolve(matter, warned)
    assert service_matters.fire(matter, warning, warning.fire_at, rules) == []
    (breached,) = service_matters.fire(matter, breach, breach.fire_at, rules)
    assert isinstance(breached, ServiceMatterBreached)
    assert breached.supervisor_ids == ["street-yushan", "gov-pingyin"]
    matter = service_matters.evolve(matter, breached)
    assert service_matters.timers(matter) == set()
    (done,) = service_matters.complete(matter, "已发放", "x", breach.fire_at + timedelta(hours=1))
    assert done.on_time is False
    matter = service_matters.evolve(matter, done)
    assert matter.status is MatterStatus.DONE
    with pytest.raises(IllegalTransition):
        service_matters.progress(matter, "again", "x", now)


def test_a_matter_must_be_held_by_staff_of_its_community():
    with pytest.raises(IllegalTransition, match="不是会仙山社区的工作人员"):
        service_matters.open_matter(
            rules_for(),
            kind=MatterKind.SUBSISTENCE_ALLOWANCE,
            title="低保申请",
            area_code="370124001001",
            responder_id="committee-cuiping",
            person=None,
            actor="x",
            now=at(0, 9),
        )
