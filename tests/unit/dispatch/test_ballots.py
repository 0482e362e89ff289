"""Ballots' pure decisions: the roll, one vote per household, quorum and majority rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.dispatch.domain import ballots
from services.dispatch.domain.ballots import Kind, MajorityOf, Method, Rule
from services.dispatch.domain.rules import IllegalTransition

UNIT = "370124001001-G01-B02-U1"
T0 = datetime(2026, 9, 6, 9, 0, tzinfo=UTC)


def roll(n: int) -> list[str]:
    return [f"{UNIT}/{100 + i}" for i in range(n)]


def opened(n: int = 6, rule: Rule | None = None, options: list[str] | None = None):
    events = ballots.open_ballot(
        uuid.uuid4(),
        Kind.BALLOT,
        "370124001001-G01",
        "370124001001",
        "拆除广场假山",
        "拆除假山及水池",
        options or ["同意", "不同意"],
        rule or Rule(),
        roll(n),
        T0,
        T0 + timedelta(days=7),
        "responder:会仙山社区居委会",
    )
    return ballots.fold(events)


def voted(ballot, *choices: str):
    for household, choice in zip(roll(len(ballot.opened.roll)), choices, strict=False):
        [event] = ballots.cast(ballot, household, choice, Method.PAPER, "staff", T0)
        ballot = ballots.evolve(ballot, event)
    return ballot


def test_a_register_is_read_from_csv_with_one_household_per_door():
    text = f"unit_code,door\n{UNIT},602\n{UNIT},602\n{UNIT},502\n"
    assert ballots.read_register("370124001001-G01", text) == [f"{UNIT}/602", f"{UNIT}/502"]
    with pytest.raises(ValueError, match="不在"):
        ballots.read_register("370124002002", text)
    with pytest.raises(ValueError, match="第 2 行"):
        ballots.read_register("370124001001", "unit_code,door\n,602\n")


def test_a_household_votes_once_and_only_when_on_the_roll():
    ballot = voted(opened(), "同意")
    with pytest.raises(IllegalTransition, match="一户一票"):
        ballots.cast(ballot, roll(1)[0], "不同意", Method.LINK, "resident:link", T0)
    with pytest.raises(IllegalTransition, match="不在户册"):
        ballots.cast(ballot, f"{UNIT}/999", "同意", Method.PAPER, "staff", T0)
    with pytest.raises(IllegalTransition, match="选项"):
        ballots.cast(ballot, roll(2)[1], "弃权", Method.PAPER, "staff", T0)
    with pytest.raises(IllegalTransition, match="截止"):
        ballots.cast(ballot, roll(2)[1], "同意", Method.PAPER, "staff", T0 + timedelta(days=8))


def test_two_thirds_is_exact_and_more_than_half_of_the_votes_cast_carries():
    # 4 of 6 households is exactly two thirds: the quorum is met (0.6667 would not be).
    ballot = voted(opened(), "同意", "同意", "同意", "不同意")
    counted = ballots.result(ballot.opened, ballot.votes)
    assert counted.quorum_met and counted.outcome == "同意" and counted.carried
    # Half is not more than half.
    ballot = voted(opened(), "同意", "同意", "不同意", "不同意")
    assert ballots.result(ballot.opened, ballot.votes).outcome is None


def test_the_owners_double_two_thirds_counts_against_all_households():
    rule = Rule("2/3", "2/3", MajorityOf.HOUSEHOLDS, majority_at_least=True)
    ballot = voted(opened(6, rule, ["甲物业", "乙物业"]), "甲物业", "甲物业", "甲物业", "乙物业")
    assert ballots.result(ballot.opened, ballot.votes).outcome is None  # 3 of 6 households
    ballot = voted(opened(6, rule, ["甲物业", "乙物业"]), *["甲物业"] * 4, "乙物业")
    assert ballots.result(ballot.opened, ballot.votes).outcome == "甲物业"  # 4 of 6, at least


def test_short_of_its_quorum_a_ballot_carries_nothing_and_closes_once():
    ballot = voted(opened(), "同意")
    [closed] = ballots.close(ballot, "timer", T0)
    assert closed.quorum_met is False and closed.carried is False and closed.cast == 1
    assert "未达到参与率" in ballots.minutes_of(ballot.opened, closed)
    with pytest.raises(IllegalTransition, match="已结束"):
        ballots.close(ballots.evolve(ballot, closed), "timer", T0)


def test_links_go_to_households_that_have_not_voted():
    ballot = voted(opened(3), "同意")
    [issued] = ballots.issue_tokens(ballot, None, "staff", T0)
    assert issued.households == roll(3)[1:]
    with pytest.raises(IllegalTransition, match="不在户册"):
        ballots.issue_tokens(ballot, [f"{UNIT}/999"], "staff", T0)
