"""Every value of the contract that a person may see has its words, in one table per enum."""

import re
from enum import Enum
from types import ModuleType

import pytest

from shared import deadlines
from shared.events import area, complaint, dispatch, labels, notification

CONTRACT_MODULES: tuple[ModuleType, ...] = (complaint, dispatch, notification, area, deadlines)
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def contract_enums() -> list[type[Enum]]:
    return [
        value
        for module in CONTRACT_MODULES
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Enum)
        and value.__module__ == module.__name__
    ]


def tables() -> dict[type[Enum], dict[Enum, str]]:
    """The label tables, by the enum their keys belong to."""
    return {
        type(next(iter(table))): table
        for table in vars(labels).values()
        if isinstance(table, dict) and table and isinstance(next(iter(table)), Enum)
    }


def test_the_contract_s_enums_are_found():
    found = set(contract_enums())
    assert {complaint.ComplaintStatus, dispatch.ResponderRole, notification.Audience} <= found
    assert {deadlines.ClockName, area.AreaLevel} <= found


@pytest.mark.parametrize("enum", contract_enums(), ids=lambda enum: enum.__name__)
def test_every_member_of_every_contract_enum_has_a_chinese_label(enum):
    table = tables().get(enum)
    assert table is not None, f"shared/events/labels.py has no table for {enum.__name__}"
    assert set(table) == set(enum)
    assert all(CHINESE.search(label) for label in table.values()), table


def test_a_status_reads_as_the_domain_names_it():
    assert labels.STATUS[complaint.ComplaintStatus.ANSWERED] == "直接办结"
    assert labels.STATUS[complaint.ComplaintStatus.REDO] == "重办"
    assert labels.STATUS[complaint.ComplaintStatus.CLASSIFIED] == "已分类，待派单"


def test_a_value_from_an_event_s_plain_field_finds_its_label_or_none():
    assert labels.label_of(labels.CLOCK, "contact") == "联系诉求人"
    assert labels.label_of(labels.CLOCK, "whistle") is None
    assert labels.label_of(labels.CLOCK, None) is None
