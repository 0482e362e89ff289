"""The public ballots name no place finer than the building (review of issue 17)."""

from __future__ import annotations

import uuid

from services.reporting.api.ballots import ballot_result


def test_a_units_ballot_is_shown_at_its_building() -> None:
    row = {
        "ballot_id": uuid.uuid4(),
        "item_id": None,
        "kind": "ballot",
        "title": "加装电梯",
        "proposal": "二单元加装电梯",
        "options": ["同意", "不同意"],
        "quorum": "2/3",
        "majority": "1/2",
        "majority_of": "cast",
        "area_code": "370124001001-G01-B02-U1",
        "community_code": "370124001001",
        "community_name": "会仙山社区",
        "opened_at": None,
        "closes_at": None,
        "closed_at": None,
        "eligible": 12,
        "cast_so_far": 3,
        "by_method": {"link": 3},
        "tally": None,
        "quorum_met": None,
        "carried": None,
        "outcome": None,
    }
    assert ballot_result(row).area_code == "370124001001-G01-B02"
