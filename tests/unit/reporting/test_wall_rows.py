"""The board's rows as the wall renders them: overdue in red, escalation marked, time left in
the board's words."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.reporting.api.schemas import board_item
from services.reporting.web.pages import TEMPLATES
from shared.events.labels import ESCALATION_LEVEL

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)


def _row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "complaint_id": uuid.uuid4(),
        "case_number": "JS-20261205-000042",
        "category": "sanitation",
        "category_name": "环境卫生",
        "status": "dispatched",
        "dispatch_state": None,
        "place_name": "东关小区3号楼",
        "street_name": "榆山街道",
        "community_name": "东关社区",
        "area_code": "370124001002-G01-B01",
        "filed_at": NOW - timedelta(days=3),
        "lead_work_order_id": uuid.uuid4(),
        "lead_responder_id": "dept-urban",
        "lead_responder_name": "平阴县城市管理局",
        "responsible_person": "赵国强",
        "signed_at": NOW - timedelta(days=2),
        "dispatched_at": NOW - timedelta(days=3),
        "due_at": NOW + timedelta(hours=5),
        "extended": False,
        "seconds_left": 5 * 3600.0,
        "escalation_level": None,
        "escalated_to": None,
        "redo_count": 0,
        "last_urged_at": None,
        "last_supervised_at": None,
    }
    return row | overrides


def _render(*rows: dict[str, Any]) -> str:
    items = [board_item(r) for r in rows]
    board = {
        "as_of": NOW,
        "total": len(items),
        "shown": len(items),
        "overdue": sum(i.overdue for i in items),
        "escalated": sum(i.escalation_level is not None for i in items),
        "groups": [{"street": "榆山街道", "community": "东关社区", "items": items}],
    }
    template = TEMPLATES.env.get_template("wall/board.html")
    return template.render(board=board, escalation=ESCALATION_LEVEL)


def test_an_overdue_escalated_matter_is_red_and_marked_with_its_rung() -> None:
    late = _row(
        seconds_left=-7200.0,
        due_at=NOW - timedelta(hours=2),
        escalation_level="street",
        escalated_to="榆山街道办事处",
    )
    html = _render(late)
    assert 'class="matter late escalated"' in html
    assert '<td class="overdue">超期2小时</td>' in html
    assert "升级至街道·榆山街道办事处" in html
    assert '超期 <b class="overdue">1</b>' in html


def test_a_matter_in_time_is_neither_red_nor_marked() -> None:
    html = _render(_row())
    assert 'class="matter"' in html and "escalated" not in html.split("<tbody")[1]
    assert "剩余5小时" in html and "赵国强" in html and "东关小区3号楼" in html


def test_the_board_names_a_place_no_finer_than_the_building() -> None:
    """A complaint filed in a unit (a stairwell) shows on the public board at its building."""
    assert board_item(_row(area_code="370124001002-G01-B01-U2")).area_code == (
        "370124001002-G01-B01"
    )
    assert board_item(_row(area_code="370124001002-G01")).area_code == "370124001002-G01"
    assert board_item(_row(area_code=None)).area_code is None
