"""Events owned by dispatch about consultations and ballots (征求意见、表决) of an area's
households, and cost sharing (联合出资), published on `dispatch.events` (shared.topics).

One stream per ballot and one per household register; none names a resident: a household is
its unit's area code and door number (e.g. 370124001001-G01-B02-U1/602).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.events.base import Event


# --- ballot ---
class CostShare(BaseModel):
    """联合出资: what one payer bears of a decision's cost."""

    model_config = ConfigDict(frozen=True)
    payer: str = Field(
        description="出资方：城市模型中的单位 id，或 owners（全体业主）、或其他出资单位名称 "
        "A unit id, 'owners', or the name of another paying body"
    )
    payer_name: str = Field(description="出资方名称 The payer as people name it")
    amount: Decimal | None = Field(None, description="出资金额（元） Amount in yuan")
    share: Decimal | None = Field(None, ge=0, le=1, description="出资比例（0–1） Share of the cost")
    note: str = Field("", description="说明 e.g. 从公共维修资金列支")


class HouseholdsRegistered(Event):
    """户册: the households of an area as staff loaded them (no names); replaces the area's last.

    Events name a household by its reference `<unit area code>/h<random>`, never by its door:
    the doors stay in dispatch's own table. One vote each.
    """

    event_type = "HouseholdsRegistered"
    version = 1

    area_code: str
    households: list[str] = Field(
        description="户的代号（单元编码/随机码，不含门牌） Household references, no door numbers"
    )
    actor: str
    registered_at: datetime


class BallotOpened(Event):
    """征求意见 or 表决 opened for the households of an area, with its rules and its roll."""

    event_type = "BallotOpened"
    version = 1

    ballot_id: UUID
    kind: str = Field(description="consultation 征求意见 | ballot 表决")
    item_id: UUID | None = Field(None, description="议事项：表决结果即其协商结论 The agenda item")
    area_code: str = Field(description="参与区域（小区/网格、楼栋、单元） The area voting")
    community_code: str
    title: str
    proposal: str = Field(description="表决事项 What is put to the households")
    options: list[str] = Field(description="选项 e.g. 同意 / 不同意, or candidates")
    quorum: str = Field(description="参与率下限（分数），如 2/3 Share of households that must vote")
    majority: str = Field(description="多数（分数），如 1/2 The share an option needs")
    majority_of: str = Field(description="cast 投票户数 | households 全体户数 Share of what")
    majority_at_least: bool = Field(
        description="true: 达到即可（以上）; false: 须超过（过半数） Reached, or exceeded"
    )
    roll: list[str] = Field(description="户册：有表决权的户（代号） The households' references")
    cost_shares: list[CostShare] = Field(
        default_factory=list, description="方案中的出资安排 Who pays, as proposed"
    )
    opens_at: datetime
    closes_at: datetime
    actor: str


class BallotTokensIssued(Event):
    """Voting links (one secret token per household) were issued; only their hashes are kept,
    and not here. A household's new link replaces its old one."""

    event_type = "BallotTokensIssued"
    version = 1

    ballot_id: UUID
    households: list[str] = Field(description="户的代号 The households' references")
    actor: str
    issued_at: datetime


class HouseholdVoted(Event):
    """One household's vote: by its link, on paper entered by staff, or door to door (入户)."""

    event_type = "HouseholdVoted"
    version = 1

    ballot_id: UUID
    household_ref: str = Field(description="户的代号（不含门牌） The household's reference")
    choice: str
    method: str = Field(description="link 链接 | paper 纸质选票 | door_to_door 入户")
    actor: str
    cast_at: datetime


class BallotTally(BaseModel):
    """Votes for one option."""

    model_config = ConfigDict(frozen=True)
    option: str
    votes: int


class BallotClosed(Event):
    """The ballot closed (at its closing time, or on demand) with its result: no household ids."""

    event_type = "BallotClosed"
    version = 1

    ballot_id: UUID
    item_id: UUID | None
    kind: str
    area_code: str
    community_code: str
    title: str
    eligible: int = Field(description="有表决权的户数 Households on the roll")
    cast: int = Field(description="投票户数 Households that voted")
    tally: list[BallotTally]
    quorum_met: bool
    carried: bool = Field(description="达到法定人数且有选项获得多数 An option won")
    outcome: str | None = Field(description="获得多数的选项 The option that won")
    closed_by: str = Field(description="timer（到期）or the actor closing it")
    closed_at: datetime
