"""One example of every contract, for the published documents (AsyncAPI).

An example is built from the contract's own JSON Schema, with the values a field of that name
holds in the demo city (a roof leaking in 玫城丽都, the 会仙山 community's area codes), and then
validated by the contract itself: an example the contract would refuse cannot be published.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

# What a field of this name holds in the examples: the demo city's words and codes.
_BY_NAME: dict[str, Any] = {
    "complaint_id": "7c2f5a0e-3b1d-4e8a-9f64-1d2c3b4a5e6f",
    "survivor_id": "1f0e9d8c-7b6a-4c5d-8e4f-3a2b1c0d9e8f",
    "into_complaint_id": "1f0e9d8c-7b6a-4c5d-8e4f-3a2b1c0d9e8f",
    "work_order_id": "3e5d7c9b-1a2f-4e6d-8c0b-9a8f7e6d5c4b",
    "case_number": "JS-20261124-000001",
    "into_case_number": "JS-20261124-000002",
    "text": "每逢下雨顶楼就漏雨，墙皮大片脱落，家里老人很着急",
    "address": "玫城丽都小区2号楼1单元602",
    "area_code": "370124001001-G01-B02-U1",
    "category": "roof-leak",
    "category_name": "房屋漏水",
    "responder_id": "property-meicheng",
    "responder_name": "玫城丽都物业服务中心",
    "responder_kind": "property",
    "resident_ref": "r_5f3c9a1b7d2e",
    "masked_phone": "138****0001",
    "reason": "按分类规则派给小区物业 Routed by the catalogue's rule for the community",
    "priority": "normal",
    "purpose": "handle",
    "task": "入户查看漏点并维修 Inspect the leak and repair it",
    "latitude": 36.6512,
    "longitude": 117.1201,
    "rule_id": "roof-leak/property",
    "catalogue_version": 3,
    "round": 1,
    "time_limit": "P5D",
    "notice_id": "2d4f6a8c-0e1b-4c3d-9f5e-7a9b1c3d5e7f",
    "title": "玫城丽都2号楼停水通知",
    "body": "因更换二次供水管道，11月26日8:00至18:00停水，请提前储水。",
    "sender_name": "会仙山社区居委会",
    "recipients": 3,
    # --- meeting ---
    "cadence_months": 3,
    "item_key": "case:7c2f5a0e-3b1d-4e8a-9f64-1d2c3b4a5e6f",
    "case_id": "7c2f5a0e-3b1d-4e8a-9f64-1d2c3b4a5e6f",
    # --- ballot ---
    "household_ref": "370124001001-G01-B02-U1/h3f9a1c0d2e4b",
    "households": [
        "370124001001-G01-B02-U1/h3f9a1c0d2e4b",
        "370124001001-G01-B02-U1/h8c2e5a7b9d10",
    ],
    "roll": ["370124001001-G01-B02-U1/h3f9a1c0d2e4b", "370124001001-G01-B02-U1/h8c2e5a7b9d10"],
    "kind": "consultation",
    "proposal": "拆除广场假山及水池，改建休闲座椅和乒乓球台",
    "options": ["同意", "不同意"],
    "choice": "同意",
    "outcome": "同意",
    "quorum": "2/3",
    "majority": "1/2",
    "majority_of": "cast",
    "method": "link",
    "tally": [{"option": "同意", "votes": 3}, {"option": "不同意", "votes": 1}],
    "cost_shares": [
        {"payer": "property-meicheng", "payer_name": "玫城丽都物业服务中心", "share": "0.5"},
        {"payer": "owners", "payer_name": "全体业主（公共维修资金）", "share": "0.5"},
    ],
    # --- committee ---
    "dispatcher_id": "owners-meicheng",
    "dispatcher_name": "玫城丽都小区业主委员会",
    "dispatcher_kind": "owners_committee",
    "lead_id": "developer-meicheng",
    "co_ids": ["property-meicheng"],
    "committee_id": "committee-huixianshan",
    "community_code": "370124001001",
    "responder_ids": ["dept-housing", "dept-property-registry"],
    "registration_ids": ["cadre-housing-sun"],
    "registration_id": "cadre-housing-sun",
    "cadre": "孙立新",
}

_BY_FORMAT = {
    "uuid": "5b8e2d4f-6a1c-4f3e-9d7b-2c4a6e8f0a1b",
    "date-time": "2026-11-24T09:30:00+08:00",
    "date": "2026-11-24",
    "duration": "P5D",
    "uri": "https://example.org/jiesu/photo-1.jpg",
}


def _value(name: str | None, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    if "$ref" in schema:
        target = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
        return _value(name, target, root)
    for key in ("examples", "default", "const", "enum"):
        if key in schema and schema[key] not in (None, []):
            value = schema[key]
            return value[0] if key in ("examples", "enum") else value
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        if name not in _BY_NAME and any(o.get("type") == "null" for o in options):
            return None  # an optional field the example leaves out
        chosen = next((o for o in options if o.get("type") != "null"), options[0])
        return _value(name, chosen, root)
    if name in _BY_NAME:
        return _BY_NAME[name]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {key: _value(key, spec, root) for key, spec in properties.items()}
    if kind == "array":
        items = schema.get("items", {})
        return [_value(None, items, root)] if items and "minItems" in schema else []
    if kind == "string":
        return _BY_FORMAT.get(schema.get("format", ""), "示例 example")
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    return None


def example_of(model: type[BaseModel]) -> dict[str, Any]:
    """A valid instance of `model` as it travels (JSON), in the demo city's words."""
    schema = model.model_json_schema(mode="validation")
    data = {key: _value(key, spec, schema) for key, spec in schema.get("properties", {}).items()}
    return model.model_validate(data).model_dump(mode="json")
