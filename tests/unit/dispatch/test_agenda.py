"""Deliberation items through 收集问题 → 确定议题 → 协商议事 → 分流落实 → 监督评审, and up to the district."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from services.dispatch.domain import agenda
from services.dispatch.domain.agenda import AgendaLevel, Stage
from services.dispatch.domain.rules import IllegalTransition
from shared.events import AgendaAssignment, Event
from tests.support.dispatch_builders import NOW

COMMUNITY = "370124001001"


def opened() -> agenda.AgendaItem:
    events = agenda.open_item(
        uuid.uuid4(),
        uuid.uuid4(),
        COMMUNITY,
        "会仙山社区",
        "小区北门拓宽",
        "居民反映出入拥堵",
        "x",
        NOW,
    )
    return step(None, events)


def step(item: agenda.AgendaItem | None, events: list[Event]) -> agenda.AgendaItem:
    for event in events:
        item = agenda.evolve(item, event)
    assert item is not None
    return item


def assignment() -> AgendaAssignment:
    return AgendaAssignment(
        responder_id="property-meicheng",
        responder_name="玫城丽都物业服务中心",
        task="拆除北门假山，加宽出入口",
        due_at=NOW + timedelta(days=15),
        work_order_id=uuid.uuid4(),
    )


def test_a_community_settles_an_item_in_five_steps():
    item = opened()
    assert item.stage is Stage.COLLECTED and item.level is AgendaLevel.COMMUNITY
    item = step(
        item, agenda.set_topic(item, "北门拓宽方案", ["业委会", "物业", "居民代表"], "x", NOW)
    )
    item = step(
        item,
        agenda.hold(item, ["业委会", "物业", "居民代表", "社区"], "同意拆除假山", True, "x", NOW),
    )
    assert item.stage is Stage.DELIBERATED
    item = step(item, agenda.decide(item, "物业拆除假山并安装座椅", [assignment()], "x", NOW))
    assert item.stage is Stage.ASSIGNED and item.assignments[0].responder_id == "property-meicheng"
    item = step(item, agenda.review(item, "居民满意", True, "x", NOW))
    assert item.stage is Stage.REVIEWED and item.satisfied is True
    assert [stage for _, stage, _ in item.history] == [
        "collected",
        "topic_set",
        "deliberated",
        "assigned",
        "reviewed",
    ]


def test_an_unsettled_item_is_raised_to_the_district_joint_meeting_and_starts_over_there():
    item = opened()
    item = step(
        item, agenda.set_topic(item, "不动产权证办理", ["住建局", "不动产登记中心"], "x", NOW)
    )
    item = step(
        item, agenda.hold(item, ["社区", "开发商"], "历史遗留问题，社区无法协调", False, "x", NOW)
    )
    assert item.stage is Stage.UNSETTLED
    with pytest.raises(IllegalTransition, match="分流落实"):
        agenda.decide(item, "x", [], "x", NOW)
    item = step(item, agenda.raise_to_district(item, "370124000000", "需县级部门协调", "x", NOW))
    assert item.level is AgendaLevel.DISTRICT and item.stage is Stage.COLLECTED
    assert item.district_code == "370124000000" and item.topic is None
    with pytest.raises(IllegalTransition, match="已在区县"):
        agenda.raise_to_district(item, "370124000000", "x", "x", NOW)
    item = step(
        item, agenda.set_topic(item, "玫城丽都办证", ["住建局", "不动产登记中心"], "x", NOW)
    )
    item = step(item, agenda.hold(item, ["县委书记", "住建局"], "承诺3个月内办结", True, "x", NOW))
    item = step(item, agenda.decide(item, "住建局牵头办理", [assignment()], "x", NOW))
    assert item.stage is Stage.ASSIGNED and len(item.meetings) == 2


@pytest.mark.parametrize(
    ("action", "stage_label"),
    [
        (lambda i: agenda.hold(i, ["x"], "纪要", True, "x", NOW), "收集问题"),
        (lambda i: agenda.review(i, "x", True, "x", NOW), "收集问题"),
        (lambda i: agenda.decide(i, "x", [], "x", NOW), "收集问题"),
    ],
)
def test_a_step_out_of_turn_is_refused_naming_the_stage(action, stage_label):
    with pytest.raises(IllegalTransition, match=stage_label):
        action(opened())


def test_a_reviewed_item_cannot_be_raised():
    item = opened()
    item = step(item, agenda.set_topic(item, "t", [], "x", NOW))
    item = step(item, agenda.hold(item, ["x"], "纪要", True, "x", NOW))
    item = step(item, agenda.decide(item, "d", [], "x", NOW))
    item = step(item, agenda.review(item, "v", False, "x", NOW))
    with pytest.raises(IllegalTransition, match="监督评审"):
        agenda.raise_to_district(item, "370124000000", "x", "x", NOW)
