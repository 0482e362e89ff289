"""The console's cases 案件: search by case number, phone tail, area, unit and status, and one
case's page with its whole timeline across the four services, each decision's reason (a
routing's catalogue rule and version) and the trace of each hop. A key sees its area only: a
case elsewhere is not found, as if it did not exist."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from services.reporting import domain, operations, store
from services.reporting.api import schemas
from services.reporting.api.deps import Pool
from services.reporting.web.pages import render
from services.reporting.web.session import Anyone
from shared.events import labels
from shared.events.area import PATTERN as AREA_PATTERN
from shared.http import Offset

router = APIRouter(include_in_schema=False)
PAGE = 50

# The search form sends every field, the ones left blank empty.
CaseNumber = Annotated[str | None, Query(max_length=40)]
PhoneTail = Annotated[str | None, Query(pattern=r"^[0-9]{0,4}$")]
AreaChoice = Annotated[str | None, Query(pattern=f"^$|{AREA_PATTERN}")]
StatusChoice = Annotated[
    str | None, Query(pattern=f"^({'|'.join(s.value for s in domain.CaseStatus)})?$")
]
UnitChoice = Annotated[str | None, Query(max_length=60)]


@router.get("/console/cases")
async def search_cases(
    request: Request,
    key: Anyone,
    pool: Pool,
    case_number: CaseNumber = None,
    phone_tail: PhoneTail = None,
    area_code: AreaChoice = None,
    responder_id: UnitChoice = None,
    status: StatusChoice = None,
    offset: Offset = 0,
) -> Response:
    number = (case_number or "").strip() or None
    case_filter = store.CaseFilter(
        case_number=number,
        phone_tail=phone_tail or None,
        area_code=area_code or None,
        responder_id=responder_id or None,
        status=status or None,
        within=key.area,
    )
    async with pool.acquire() as conn:
        total, rows = await store.find_cases(conn, case_filter, PAGE, offset)
        if number and total == 1:  # a case number names one case: open it
            return RedirectResponse(f"/console/cases/{rows[0]['complaint_id']}", status_code=303)
        areas = await operations.area_choices(conn, key.area)
        units = await operations.responder_choices(conn)
    return render(
        request,
        "console/cases.html",
        key=key,
        cases=[(schemas.case_summary(row), row.get("masked_phone")) for row in rows],
        total=total,
        offset=offset,
        page=PAGE,
        areas=areas,
        units=units,
        statuses=domain.STATUS_LABELS,
        query={
            "case_number": number or "",
            "phone_tail": phone_tail or "",
            "area_code": area_code or "",
            "responder_id": responder_id or "",
            "status": status or "",
        },
    )


@router.get("/console/cases/{complaint_id}")
async def case_page(request: Request, complaint_id: UUID, key: Anyone, pool: Pool) -> Response:
    async with pool.acquire() as conn:
        row = await store.get_case(conn, complaint_id, within=key.area)
    if row is None:
        return render(
            request, "console/case_missing.html", status_code=404, key=key, id=complaint_id
        )
    traces_ui = request.app.state.runtime.settings.traces_ui_url
    return render(
        request,
        "console/case.html",
        key=key,
        case=schemas.case(row),
        row=row,
        timeline=row["timeline"],
        orders=row["work_orders"],
        notifications=row["notifications"],
        roles=labels.ROLE,
        audiences=labels.AUDIENCE,
        trace_url=(lambda trace: traces_ui.replace("{trace_id}", trace)) if traces_ui else None,
    )
