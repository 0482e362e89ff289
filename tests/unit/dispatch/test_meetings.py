"""The community 大党委's pure decisions: its cadence, the agenda found in the record, edits,
the meeting held once, and decisions turned into work orders on members only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.dispatch.domain import meetings
from services.dispatch.domain.case import CO, LEAD
from services.dispatch.domain.rules import IllegalTransition
from shared.events import CouncilMatterDecided, CouncilMember, Event, WorkOrderIssued
from tests.support.dispatch_builders import NOW, dispatched, rules_for

COMMUNITY = "370124001001"
BUILDING = "370124001001-G01-B02"


def council() -> meetings.Council:
    members = [
        CouncilMember(name="中共平阴县委", kind="leader", person="杨旭东", post="县委书记"),
        CouncilMember(name="住建局", kind="department", responder_id="dept-housing"),
        CouncilMember(name="不动产中心", kind="department", responder_id="dept-property-registry"),
    ]
    events = meetings.constitute(COMMUNITY, members, 3, "x", NOW, rules_for().model)
    found = meetings.fold_council(events)
    assert found is not None
    return found


def scheduled(items: list[meetings.CouncilMeetingItem] | None = None) -> meetings.Meeting:
    events = meetings.schedule(council(), meetings.MeetingKind.QUARTERLY, None, NOW, "x", NOW)
    meeting = meetings.fold_meeting(events)
    assert meeting is not None
    if items is not None:
        meeting = meetings.fold_meeting(meetings.prepare(meeting, items, "x", NOW), meeting)
    assert meeting is not None
    return meeting


def held(meeting: meetings.Meeting) -> meetings.Meeting:
    after = meetings.fold_meeting(
        meetings.hold(meeting, ["杨旭东"], [], "纪要", NOW, "x", NOW), meeting
    )
    assert after is not None
    return after


def issued(events: list[Event]) -> list[WorkOrderIssued]:
    return [e for e in events if isinstance(e, WorkOrderIssued)]


def decided(events: list[Event]) -> list[CouncilMatterDecided]:
    return [e for e in events if isinstance(e, CouncilMatterDecided)]


@pytest.mark.parametrize(
    ("start", "months", "due"),
    [
        (datetime(2026, 8, 24, tzinfo=UTC), 3, datetime(2026, 11, 24, tzinfo=UTC)),
        (datetime(2026, 11, 30, tzinfo=UTC), 3, datetime(2027, 2, 28, tzinfo=UTC)),
        (datetime(2027, 11, 30, tzinfo=UTC), 3, datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 1, 31, tzinfo=UTC), 12, datetime(2027, 1, 31, tzinfo=UTC)),
    ],
)
def test_the_next_meeting_is_due_a_cadence_of_calendar_months_later(start, months, due):
    assert meetings.add_months(start, months) == due


def test_a_council_never_met_is_due_a_quarter_after_it_was_set_up():
    body = council()
    assert meetings.next_due(body, None) == meetings.add_months(NOW, 3)
    met = NOW + timedelta(days=10)
    assert meetings.next_due(body, met) == meetings.add_months(met, 3)


def test_only_a_community_of_the_city_model_has_a_council():
    with pytest.raises(IllegalTransition, match="不是社区"):
        meetings.constitute("370124001000", [], 3, "x", NOW, rules_for().model)
    stranger = CouncilMember(name="某局", kind="department", responder_id="no-such-unit")
    with pytest.raises(IllegalTransition, match="不在城市模型中"):
        meetings.constitute(COMMUNITY, [stranger], 3, "x", NOW, rules_for().model)


def test_the_agenda_lists_each_case_once_with_every_reason_and_the_recurring_places():
    model = rules_for().model
    on_item, escalated, quiet = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    recent = [
        meetings.RecentCase(uuid.uuid4(), f"{BUILDING}-U1", "roof-leak", NOW - timedelta(days=d))
        for d in (1, 5, 40)
    ]
    items = meetings.found_items(
        [meetings.Unsettled(uuid.uuid4(), on_item, "北门拓宽")],
        [
            meetings.OpenCase(on_item, BUILDING, "parking", True, True),
            meetings.OpenCase(escalated, BUILDING, "property-certificate", True, True),
            meetings.OpenCase(quiet, BUILDING, "sanitation", False, False),
        ],
        recent,
        model,
        NOW,
    )
    by_source = {i.source: i for i in items}
    assert [i.source for i in items] == ["unsettled", "escalated", "recurring"]
    assert by_source["unsettled"].case_id == on_item, "its case is not listed a second time"
    assert by_source["escalated"].detail == "已升级督办、已超期"
    assert by_source["escalated"].title == "玫城丽都2号楼不动产权证办理"
    assert by_source["recurring"].key == f"place:{BUILDING}"
    # Two of the three roof leaks fell in the last thirty days: not yet a monthly topic.
    more = [*recent, meetings.RecentCase(uuid.uuid4(), BUILDING, "roof-leak", NOW)]
    topics = [
        i for i in meetings.found_items([], [], more, model, NOW) if i.key == "topic:roof-leak"
    ]
    assert topics and topics[0].source == "monthly_topic"


def test_edits_keep_one_copy_of_each_item_and_refuse_what_is_not_there():
    meeting = scheduled([])
    collected = meetings.hand_item("collected", "北门车棚", "征集12条", None, None)
    after = meetings.fold_meeting(meetings.edit(meeting, [collected], [], "x", NOW), meeting)
    assert after is not None and after.items == (collected,)
    with pytest.raises(IllegalTransition, match="已在议程中"):
        meetings.edit(after, [collected], [], "x", NOW)
    with pytest.raises(IllegalTransition, match="议程中没有"):
        meetings.edit(after, [], ["collected:nothing"], "x", NOW)
    with pytest.raises(IllegalTransition, match="不能手工添加"):
        meetings.hand_item("escalated", "x", "", None, None)
    # Preparing again keeps what was added by hand.
    again = meetings.fold_meeting(meetings.prepare(after, [], "x", NOW), after)
    assert again is not None and again.items == (collected,)


def test_a_meeting_is_held_once_and_decides_only_after_it_met():
    case = dispatched("property-certificate", BUILDING)
    item = meetings.hand_item("case", "不动产权证", "", case, None)
    meeting = scheduled([item])
    rules = rules_for()
    housing = rules.model.responders["dept-housing"]
    duty = meetings.Duty(housing, "办理手续", NOW + timedelta(days=90))
    with pytest.raises(IllegalTransition, match="尚未召开"):
        meetings.decide(meeting, council(), item.key, "三个月内", [duty], case, "x", NOW, rules)
    met = held(meeting)
    with pytest.raises(IllegalTransition, match="已召开"):
        meetings.hold(met, ["x"], [], "again", NOW, "x", NOW)
    with pytest.raises(IllegalTransition, match="不能晚于现在"):
        meetings.hold(meeting, ["x"], [], "soon", NOW + timedelta(hours=1), "x", NOW)
    urban = meetings.Duty(rules.model.responders["dept-urban"], "配合", NOW + timedelta(days=9))
    with pytest.raises(IllegalTransition, match="不是会仙山社区大党委成员单位"):
        meetings.decide(met, council(), item.key, "配合", [urban], case, "x", NOW, rules)
    made, orders = meetings.decide(
        met, council(), item.key, "三个月内", [duty], case, "x", NOW, rules
    )
    [order] = issued(orders)
    [decision] = decided(made)
    assert order.complaint_id == case.complaint_id and order.role is CO
    assert order.due_at == NOW + timedelta(days=90) and order.purpose == "deliberation"
    assert decision.duties[0].work_order_id == order.work_order_id and not decision.opened_case


def test_a_matter_without_a_case_gets_one_with_the_first_duty_leading():
    collected = meetings.hand_item("collected", "北门车棚", "", None, BUILDING)
    met = held(scheduled([collected]))
    rules = rules_for()
    duties = [
        meetings.Duty(rules.model.responders[unit], "做", NOW + timedelta(days=10))
        for unit in ("dept-housing", "dept-property-registry")
    ]
    made, events = meetings.decide(
        met, council(), collected.key, "建车棚", duties, None, "x", NOW, rules
    )
    orders, [decision] = issued(events), decided(made)
    assert [o.role for o in orders] == [LEAD, CO]
    assert {o.complaint_id for o in orders} == {decision.case_id}
    assert decision.opened_case and orders[0].area_code == BUILDING
