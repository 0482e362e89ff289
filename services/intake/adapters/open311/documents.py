"""Open311 GeoReport v2's documents as intake writes them: each answer's model (what the OpenAPI
document shows for .json; the .xml twin holds the same under the Spark convention), the
services, definitions, requests and updates shaped from the catalogue and the view, and their
rendering as JSON or XML, errors included.

Open311 clients depend on these field names: the models document the answers and are not used
to re-validate them (the JSON is written as it is built, see `render`)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from services.intake.domain.catalogue import Catalogue, Category
from services.intake.domain.commands import MEDIA_URL
from services.intake.domain.words import CHINA
from shared.events import ComplaintStatus, labels

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
# Open311 knows only open and closed: whatever is answered or ended is closed; redo reopens.
CLOSED = frozenset({"answered", "resolved", "called_back", "merged", "withdrawn", "closed"})
# The Spark convention: the repeated child element of each XML container (a JSON array).
ITEMS = {
    "services": "service",
    "service_requests": "request",
    "service_request_updates": "request_update",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
_UNWRITABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # not allowed in XML 1.0

# --- rendering -------------------------------------------------------------------------------


def render(
    fmt: str, root: str, data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """`data` as bare JSON, or as XML under `root` with each list item in its singular element."""
    if fmt == "json":
        body = json.dumps(data, ensure_ascii=False).encode()
    else:
        element = ET.Element(root)
        _fill(element, data)
        xml = ET.tostring(element, encoding="unicode")
        body = f'<?xml version="1.0" encoding="utf-8"?>\n{xml}'.encode()
    return Response(body, status_code=status, media_type=FORMATS[fmt], headers=headers)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            _fill(ET.SubElement(element, name), item)
    elif isinstance(value, list):
        for item in value:
            _fill(ET.SubElement(element, ITEMS[element.tag]), item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _UNWRITABLE.sub("", str(value))


def error_response(
    fmt: str, status: int, *descriptions: str, headers: dict[str, str] | None = None
) -> Response:
    """Open311's error array (XML unless .json was asked for); middleware may use it too."""
    errors = [{"code": status, "description": d} for d in descriptions]
    return render(fmt if fmt in FORMATS else "xml", "errors", errors, status, headers)


# --- the answers' models ----------------------------------------------------------------------


class Described(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Endpoint(Described):
    specification: str
    url: str
    changeset: str
    type: Literal["production", "test"]
    formats: list[str]


class Discovery(Described):
    """Service discovery: where the endpoint is and how to get a key."""

    changeset: str
    contact: str
    key_service: str
    endpoints: list[Endpoint]


class Service(Described):
    """A service: one of the catalogue's complaint categories."""

    service_code: str
    service_name: str
    description: str | None
    metadata: bool = Field(description="有附加问题 It has questions (a service definition)")
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str | None = Field(description="逗号分隔 Comma-separated")
    group: str | None


class ServiceAttributeValue(Described):
    key: str
    name: str


class ServiceAttribute(Described):
    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str | None
    order: int
    description: str
    values: list[ServiceAttributeValue]


class ServiceDefinition(Described):
    """The questions a resident answers when filing under a service (attribute[CODE])."""

    service_code: str
    attributes: list[ServiceAttribute]


class Filed(Described):
    """A request just filed: its case number, and what the resident is told."""

    service_request_id: str
    service_notice: str | None
    account_id: str | None


class Token(Described):
    service_request_id: str
    token: str


class ServiceRequest(Described):
    """A complaint as the public feed shows it: its place no closer than the building."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str | None
    service_code: str | None
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str | None
    updated_datetime: str | None
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class RequestUpdate(Described):
    """A step a person can read about (the mySociety extension)."""

    update_id: str
    service_request_id: str
    status: Literal["open", "closed"]
    updated_datetime: str | None
    description: str
    media_url: str
    external_status_code: str = Field(description="intake 的细分状态 Intake's own status")


class Error(Described):
    code: int
    description: str


def documented(model: Any) -> dict[str, Any]:
    """What a route's OpenAPI operation says of its answers: `model` as .json (or its XML twin),
    and Open311's error array (the same as XML) for every failure, the refusals of the service's
    middleware (413, and 422 for what Postgres cannot store) among them."""
    xml = {"text/xml": {"schema": {"type": "string"}}}
    errors = {
        "model": list[Error],
        "description": "Open311 错误数组 Open311's error array",
        "content": xml,
    }
    return {
        "response_model": model,
        "responses": {
            200: {"content": xml},
            **{status: errors for status in (400, 403, 404, 413, 422, 429, 503)},
        },
    }


# --- shaping ---------------------------------------------------------------------------------


def service(category: Category) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.description,
        "metadata": bool(category.attributes),
        "type": "realtime",  # the request is committed before we answer, id and all
        "keywords": ",".join(category.keywords) or None,
        "group": category.group,
    }


def definition(category: Category) -> dict[str, Any]:
    # The spec wants a unique positive order; the catalogue may leave it out (for a notice).
    spare = iter(range(max((a.order or 0 for a in category.attributes), default=0) + 1, 10**6))
    ordered = sorted(((a.order or next(spare), a) for a in category.attributes), key=lambda p: p[0])
    attributes = [
        {
            "variable": a.variable,
            "code": a.code,
            "datatype": a.datatype,
            "required": a.required,
            "datatype_description": a.datatype_description,
            "order": order,
            "description": a.description,
            "values": [{"key": v.key, "name": v.name} for v in a.values],
        }
        for order, a in ordered
    ]
    return {"service_code": category.code, "attributes": attributes}


def w3c(moment: datetime | None) -> str | None:
    """A W3C datetime in China's offset, whole seconds: 2026-05-01T08:00:00+08:00."""
    return moment.astimezone(CHINA).replace(microsecond=0).isoformat() if moment else None


def open_or_closed(status: str) -> str:
    return "closed" if status in CLOSED else "open"


def request(
    row: Mapping[str, Any], catalogue: Catalogue, public_text: bool = False
) -> dict[str, Any]:
    category = catalogue.categories.get(row["category"] or "")
    label = labels.STATUS[ComplaintStatus(row["status"])]
    # The feed is public: the place stops at the building (no unit, no room number), the
    # coordinates at about a hundred metres, and the resident's own words (which may name
    # people, doors and numbers in ways no masker catches) are shown only where the city
    # chose to publish them (INTAKE_OPEN311_PUBLIC_TEXT; phone and ID numbers were masked at
    # filing); a link is shown only if it is a web link. What a whistle-blower reported (举报)
    # is never shown.
    place_code, place = catalogue.public_place(row["area_code"])
    what = category.name if category else "诉求"
    if row["type"] == "report":
        text = "（举报内容不公开 Report details are not public）"
    elif public_text:
        text = row["text"]
    else:
        text = (
            f"{what}（{place or '地点不公开'}）：居民原话不公开 The resident's words are not public"
        )
    media = [m for m in row["media_urls"] or () if re.fullmatch(MEDIA_URL, m)]
    return {
        "service_request_id": row["case_number"],
        "status": open_or_closed(row["status"]),
        "status_notes": f"{label}：{row['status_note']}" if row["status_note"] else label,
        "service_name": category.name if category else row["category"],
        "service_code": row["category"],
        "description": text,
        "agency_responsible": row["lead_responder"],
        "service_notice": None,
        "requested_datetime": w3c(row["filed_at"]),
        "updated_datetime": w3c(row["updated_at"]),
        "expected_datetime": w3c(row["due_at"]),
        "address": place,
        "address_id": place_code,
        "zipcode": None,
        "lat": _rounded(row["latitude"]),
        "long": _rounded(row["longitude"]),
        "media_url": media[0] if media else None,
    }


def _rounded(degrees: float | None) -> float | None:
    """Three decimals: about 110 m north-south, enough to find the street, not the door."""
    return None if degrees is None else round(degrees, 3)


def update(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "update_id": str(row["update_id"]),
        "service_request_id": row["case_number"],
        "status": open_or_closed(row["status"]),
        "updated_datetime": w3c(row["updated_at"]),
        "description": row["description"],
        "media_url": "",
        "external_status_code": row["status"],  # our finer status (dispatched, signed…)
    }
