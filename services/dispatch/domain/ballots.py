"""Consultations and ballots (征求意见、表决) of an area's households: pure decisions.

The roll is the households registered for the area (户册, loaded by staff: a unit's area code
and a door number, never a name), frozen into the ballot when it opens: one vote per household
on the roll is then provable from the ballot's own stream. Events name a household by its
reference (`<unit code>/h<random>`, `new_ref`), never by its door: the doors stay in dispatch's
table, so a reader of dispatch.events cannot tell which flat voted what. A household that has voted cannot
vote again (its second vote is refused, by whatever way it comes), so a paper ballot and a link
cannot both count. The result decides the agenda item the ballot was opened for.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from typing import Any
from uuid import UUID

from services.dispatch.domain.agenda import AgendaItem, Stage, committee_of
from services.dispatch.domain.city import CityModel, Level, ResponderKind
from services.dispatch.domain.rules import Acting, IllegalTransition, NotAllowed
from shared.events import (
    BallotClosed,
    BallotOpened,
    BallotTally,
    BallotTokensIssued,
    CostShare,
    DeliberationHeld,
    Event,
    HouseholdVoted,
)
from shared.events.area import PATTERN as AREA_PATTERN
from shared.events.area import within


class Kind(StrEnum):
    CONSULTATION = "consultation"  # 征求意见
    BALLOT = "ballot"  # 表决


KIND_LABELS = {Kind.CONSULTATION: "征求意见", Kind.BALLOT: "表决"}


class Method(StrEnum):
    LINK = "link"  # 微信/短信链接
    PAPER = "paper"  # 纸质选票，工作人员录入
    DOOR_TO_DOOR = "door_to_door"  # 楼栋长/单元长入户


METHOD_LABELS = {Method.LINK: "链接投票", Method.PAPER: "纸质选票", Method.DOOR_TO_DOOR: "入户投票"}


class MajorityOf(StrEnum):
    CAST = "cast"  # 投票户数
    HOUSEHOLDS = "households"  # 全体户数（业主大会"双三分之二"式）


def fraction(text: str) -> Fraction:
    """A rule's share, "2/3" or "1/2", exactly (0.6667 of 780 households is not 520)."""
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{text!r} 不是分数，如 2/3 Not a fraction") from None
    if not 0 <= value <= 1:
        raise ValueError(f"{text} 应在 0 与 1 之间 Must lie between 0 and 1")
    return value


# --- the household register (户册) -------------------------------------------------------------


def household_id(unit_code: str, door: str) -> str:
    return f"{unit_code}/{door}"


def new_ref(household: str) -> str:
    """A household's reference in events: its unit and a random part, never its door (a vote
    on dispatch.events must not say which flat chose what)."""
    return f"{unit_of(household)}/h{secrets.token_hex(6)}"


def unit_of(household: str) -> str:
    return household.rsplit("/", 1)[0]


def read_register(area_code: str, text: str) -> list[str]:
    """Households from a CSV with the columns `unit_code,door` (户号，不含姓名), every unit
    within `area_code`; a household listed twice is one household. ValueError names the line."""
    rows = list(csv.DictReader(io.StringIO(text.strip())))
    households: dict[str, None] = {}
    for number, row in enumerate(rows, start=2):
        unit, door = (row.get("unit_code") or "").strip(), (row.get("door") or "").strip()
        if not unit or not door:
            raise ValueError(f"第 {number} 行缺少 unit_code 或 door Line {number}: columns missing")
        if not re.match(AREA_PATTERN, unit) or not within(unit, area_code):
            raise ValueError(
                f"第 {number} 行的单元 {unit} 不在 {area_code} 内 Line {number}: not in the area"
            )
        if not re.fullmatch(r"[0-9A-Za-z\-]{1,12}", door):
            raise ValueError(f"第 {number} 行门牌 {door!r} 无效 Line {number}: bad door number")
        households[household_id(unit, door)] = None
    if not households:
        raise ValueError("户册为空 The register lists no household")
    return list(households)


# --- the ballot --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Vote:
    choice: str
    method: Method
    actor: str
    cast_at: datetime


@dataclass(frozen=True, slots=True)
class Ballot:
    opened: BallotOpened
    votes: dict[str, Vote] = field(default_factory=dict)  # household → its vote
    tokens_issued: frozenset[str] = frozenset()
    closed: BallotClosed | None = None
    version: int = 0

    @property
    def ballot_id(self) -> UUID:
        return self.opened.ballot_id

    @property
    def is_open(self) -> bool:
        return self.closed is None


def _cast(ballot: Ballot, e: HouseholdVoted) -> Ballot:
    vote = Vote(e.choice, Method(e.method), e.actor, e.cast_at)
    return replace(ballot, votes={**ballot.votes, e.household_ref: vote})


_EVOLVE: dict[type[Event], Callable[[Any, Any], Ballot]] = {
    BallotOpened: lambda _, e: Ballot(e),
    BallotTokensIssued: lambda b, e: replace(b, tokens_issued=b.tokens_issued | set(e.households)),
    HouseholdVoted: _cast,
    BallotClosed: lambda b, e: replace(b, closed=e),
}
BALLOT_EVENTS = tuple(_EVOLVE)


def evolve(ballot: Ballot | None, event: Event) -> Ballot:
    if ballot is None and not isinstance(event, BallotOpened):
        raise ValueError(f"a ballot's stream starts with BallotOpened, not {event.event_type}")
    after = _EVOLVE[type(event)](ballot, event)
    return replace(after, version=(ballot.version if ballot else 0) + 1)


def fold(events: Iterable[Event]) -> Ballot | None:
    ballot: Ballot | None = None
    for event in events:
        ballot = evolve(ballot, event)
    return ballot


@dataclass(frozen=True, slots=True)
class Rule:
    quorum: str = "2/3"
    majority: str = "1/2"
    majority_of: MajorityOf = MajorityOf.CAST
    majority_at_least: bool = False


def open_ballot(
    ballot_id: UUID,
    kind: Kind,
    area_code: str,
    community_code: str,
    title: str,
    proposal: str,
    options: list[str],
    rule: Rule,
    eligible: list[str],
    opens_at: datetime,
    closes_at: datetime,
    actor: str,
    item: AgendaItem | None = None,
    cost_shares: list[CostShare] | None = None,
) -> list[Event]:
    if closes_at <= opens_at:
        raise IllegalTransition("截止时间须晚于开始时间 It must close after it opens")
    if len(set(options)) != len(options) or len(options) < 2:
        raise IllegalTransition("至少两个互不相同的选项 At least two different options")
    if not eligible:
        raise IllegalTransition(
            f"{area_code} 尚无户册，请先载入户册 No household register for this area yet"
        )
    fraction(rule.quorum), fraction(rule.majority)
    if item is not None:
        if item.stage not in {Stage.TOPIC_SET, Stage.UNSETTLED}:
            raise IllegalTransition(
                f"议事项「{item.title}」须先确定议题才能交付表决 Set the item's topic first"
            )
        if not within(area_code, item.community_code):
            raise IllegalTransition("表决区域不在该议事项的社区内 Not the item's community")
    return [
        BallotOpened(
            ballot_id=ballot_id,
            kind=kind.value,
            item_id=item.item_id if item else None,
            area_code=area_code,
            community_code=community_code,
            title=title,
            proposal=proposal,
            options=options,
            quorum=rule.quorum,
            majority=rule.majority,
            majority_of=rule.majority_of.value,
            majority_at_least=rule.majority_at_least,
            roll=eligible,
            cost_shares=cost_shares or [],
            opens_at=opens_at,
            closes_at=closes_at,
            actor=actor,
        )
    ]


def _require_open(ballot: Ballot, now: datetime) -> None:
    if not ballot.is_open:
        raise IllegalTransition(f"「{ballot.opened.title}」已结束 The ballot is closed")
    if now >= ballot.opened.closes_at:
        raise IllegalTransition(f"「{ballot.opened.title}」已过截止时间 Past its closing time")


def issue_tokens(
    ballot: Ballot, households: list[str] | None, actor: str, now: datetime
) -> list[Event]:
    """Links for `households` (None: every household on the roll that has not voted)."""
    _require_open(ballot, now)
    roll = set(ballot.opened.roll)
    wanted = households if households is not None else ballot.opened.roll
    unknown = [h for h in wanted if h not in roll]
    if unknown:
        raise IllegalTransition(f"不在户册中：{', '.join(unknown[:5])} Not on the roll")
    chosen = [h for h in dict.fromkeys(wanted) if h not in ballot.votes]
    if not chosen:
        return []
    return [
        BallotTokensIssued(
            ballot_id=ballot.ballot_id, households=chosen, actor=actor, issued_at=now
        )
    ]


def cast(
    ballot: Ballot, household: str, choice: str, method: Method, actor: str, now: datetime
) -> list[Event]:
    """One household's vote; a second one is refused (一户一票)."""
    _require_open(ballot, now)
    if now < ballot.opened.opens_at:
        raise IllegalTransition(f"「{ballot.opened.title}」尚未开始 Not open yet")
    if household not in set(ballot.opened.roll):
        raise IllegalTransition(f"{household} 不在户册中 Not on the roll")
    if household in ballot.votes:
        before = ballot.votes[household]
        raise IllegalTransition(
            f"该户已于 {before.cast_at:%Y-%m-%d %H:%M} 以{METHOD_LABELS[before.method]}投票，"
            "一户一票 This household has already voted"
        )
    if choice not in ballot.opened.options:
        raise IllegalTransition(
            f"选项应为 {' / '.join(ballot.opened.options)} 之一 Not one of the options"
        )
    return [
        HouseholdVoted(
            ballot_id=ballot.ballot_id,
            household_ref=household,
            choice=choice,
            method=method.value,
            actor=actor,
            cast_at=now,
        )
    ]


@dataclass(frozen=True, slots=True)
class Result:
    eligible: int
    cast: int
    tally: list[BallotTally]
    quorum_met: bool
    outcome: str | None

    @property
    def carried(self) -> bool:
        return self.outcome is not None


def result(opened: BallotOpened, votes: dict[str, Vote]) -> Result:
    """Turnout against the roll; the leading option wins if the quorum is met and it has the
    majority (of the votes cast or of all households) the ballot's rule asks; a tie wins none."""
    eligible, cast_count = len(opened.roll), len(votes)
    counts = {option: 0 for option in opened.options}
    for vote in votes.values():
        counts[vote.choice] += 1
    tally = [BallotTally(option=o, votes=n) for o, n in counts.items()]
    quorum_met = eligible > 0 and Fraction(cast_count, eligible) >= fraction(opened.quorum)
    base = cast_count if opened.majority_of == MajorityOf.CAST else eligible
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    leader, most = ranked[0]
    unique = len(ranked) == 1 or ranked[1][1] < most
    share = Fraction(most, base) if base else Fraction(0)
    needed = fraction(opened.majority)
    enough = share >= needed if opened.majority_at_least else share > needed
    outcome = leader if quorum_met and unique and enough and most > 0 else None
    return Result(eligible, cast_count, tally, quorum_met, outcome)


def close(ballot: Ballot, closed_by: str, now: datetime) -> list[Event]:
    if not ballot.is_open:
        raise IllegalTransition(f"「{ballot.opened.title}」已结束 The ballot is already closed")
    opened = ballot.opened
    counted = result(opened, ballot.votes)
    return [
        BallotClosed(
            ballot_id=opened.ballot_id,
            item_id=opened.item_id,
            kind=opened.kind,
            area_code=opened.area_code,
            community_code=opened.community_code,
            title=opened.title,
            eligible=counted.eligible,
            cast=counted.cast,
            tally=counted.tally,
            quorum_met=counted.quorum_met,
            carried=counted.carried,
            outcome=counted.outcome,
            closed_by=closed_by,
            closed_at=now,
        )
    ]


def minutes_of(opened: BallotOpened, closed: BallotClosed) -> str:
    """The result in words, as the agenda item's minutes (no household ids)."""
    votes = "，".join(f"{t.option} {t.votes} 户" for t in closed.tally)
    turnout = f"{closed.cast}/{closed.eligible} 户参与" if closed.eligible else "无户册"
    if not closed.quorum_met:
        verdict = f"未达到参与率 {opened.quorum}，表决无效 Quorum not met"
    elif closed.outcome is None:
        verdict = f"无选项获得所需多数 {opened.majority}，未决 No option won"
    else:
        verdict = f"表决结果：{closed.outcome} Carried: {closed.outcome}"
    return f"{KIND_LABELS[Kind(opened.kind)]}「{opened.title}」：{turnout}；{votes}。{verdict}"


def conclude_item(item: AgendaItem, opened: BallotOpened, closed: BallotClosed) -> list[Event]:
    """The ballot's result as the item's deliberation: settled when it carried. An item that
    moved on meanwhile (decided by a meeting) keeps its course: the ballot decides nothing."""
    if item.stage not in {Stage.TOPIC_SET, Stage.UNSETTLED}:
        return []
    return [
        DeliberationHeld(
            item_id=item.item_id,
            complaint_id=item.complaint_id,
            level=item.level.value,
            participants=[f"{opened.area_code} 有表决权的 {closed.eligible} 户中 {closed.cast} 户"],
            minutes=minutes_of(opened, closed),
            settled=closed.carried,
            actor=closed.closed_by,
            held_at=closed.closed_at,
            ballot_id=opened.ballot_id,
        )
    ]


# --- who may ------------------------------------------------------------------------------------

# Units whose key may enter paper ballots (the committees) besides the area's supervisors.
_COMMITTEES = frozenset({ResponderKind.COMMUNITY_COMMITTEE, ResponderKind.OWNERS_COMMITTEE})


def serves(acting: Acting, area_code: str, model: CityModel) -> bool:
    """Whether `acting`'s unit serves `area_code` (an area enclosing it)."""
    unit = acting.responder
    return unit is not None and any(model.within(area_code, a) for a in model.served[unit.id])


def must_run(acting: Acting, area_code: str, model: CityModel) -> None:
    """Opening, closing and issuing links: the community's committee or the area's supervisors."""
    if acting.supervises(model, area_code) or committee_of(acting, area_code, model):
        return
    raise NotAllowed("只有社区居委会或属地督办人员可以组织表决 Not this key's area")


def may_enter(acting: Acting, household: str, method: Method, model: CityModel) -> None:
    """Paper ballots: the community or owners' committee of the area (or its supervisors).
    Door to door: any staff key of a unit serving the household's area (网格员、楼栋长、物业…)."""
    unit = unit_of(household)
    if acting.supervises(model, unit) or committee_of(acting, unit, model):
        return
    if method is Method.PAPER:
        unit_kind = acting.responder.kind if acting.responder is not None else None
        if unit_kind in _COMMITTEES and serves(acting, unit, model):
            return
        raise NotAllowed("纸质选票须由社区居委会或业委会录入 Paper votes: the committees only")
    # The building's own people (网格员、楼栋长、物业…), not a department or utility "serving"
    # the whole district, which could otherwise cast any household's vote as collected.
    local = acting.responder is not None and acting.responder.level == Level.COMMUNITY
    if local and serves(acting, unit, model):
        return
    raise NotAllowed("只有服务该楼栋的工作人员可以入户收票 Not a unit serving this building")
