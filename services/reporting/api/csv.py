"""CSV export of any read model's rows: nested values flattened, headers in Chinese and English."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi.responses import StreamingResponse

from services.reporting.measures import COUNTS, MeasuresConfig

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
# What a route that answers `format=csv` declares for its 200, beside its JSON model.
CSV_RESPONSE: dict[str, Any] = {
    "content": {"text/csv": {"schema": {"type": "string"}}},
    "description": "CSV（format=csv）",
}

LABELS = {
    "complaint_id": "诉求ID",
    "case_number": "诉求编号",
    "category": "类别",
    "category_name": "类别名称",
    "status": "状态",
    "status_label": "状态说明",
    "stage": "办理阶段",
    "stage_label": "办理阶段说明",
    "filed_at": "受理时间",
    "area_code": "区划代码",
    "place_name": "地点",
    "street_name": "街道",
    "community_name": "社区",
    "lead_responder_id": "主办单位ID",
    "lead_responder_name": "主办单位",
    "responsible_person": "责任人",
    "due_at": "办理时限",
    "seconds_left": "剩余秒数",
    "time_left": "剩余时间",
    "overdue": "是否超期",
    "escalation_level": "升级层级",
    "rank": "名次",
    "unit": "单位代码",
    "unit_name": "单位名称",
    "composite_score": "综合得分",
    "governance": "治理类",
    "red_list": "红榜",
    "black_list": "黑榜",
    "area": "区域代码",
    "area_name": "区域",
    "total": "合计",
    "this_week": "本周",
    "weekly": "逐周",
    "trend": "趋势（件/周）",
    "place": "地点代码",
    "cases": "件数",
    "reasons": "依据",
    "suggestion": "建议",
    "evidence": "证据",
    "rise": "增量",
    "baseline": "基线（月均）",
    "growth": "增幅",
    "item_id": "议题ID",
    "title": "议题",
    "level": "层级",
    "topic": "议题内容",
    "decision": "决定",
    "verdict": "评审结论",
}


def labels(config: MeasuresConfig) -> dict[str, str]:
    found = dict(LABELS)
    found.update({name: m.name for name, m in config.measures.items()})
    found.update({name: c.label for name, c in COUNTS.items()})
    return found


def _flat(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Mapping) and key in ("key", "values", "counts"):
            out.update(_flat(value))
        elif isinstance(value, Mapping):
            out[prefix + key] = json.dumps(value, ensure_ascii=False, default=str)
        elif isinstance(value, list):
            simple = all(isinstance(v, str | int | float) for v in value)
            out[prefix + key] = (
                "、".join(map(str, value))
                if simple
                else json.dumps(value, ensure_ascii=False, default=str)
            )
        elif isinstance(value, datetime):
            out[prefix + key] = value.isoformat()
        else:
            out[prefix + key] = value
    return out


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A text that a spreadsheet would run as a formula (`=HYPERLINK(…)` typed into a complaint)
    is written with a leading apostrophe, which shows it as the text it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _lines(rows: Iterable[Mapping[str, Any]], names: Mapping[str, str]) -> Iterator[str]:
    buffer = io.StringIO()
    writer: Any = None
    yield "\ufeff"  # a byte-order mark, so spreadsheet software reads the Chinese as UTF-8
    for row in rows:
        flat = _flat(row)
        if writer is None:
            columns = list(flat)
            writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
            header = {c: f"{names[c]}/{c}" if c in names else c for c in columns}
            writer.writerow(header)
        writer.writerow({column: _cell(value) for column, value in flat.items()})
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def csv_response(
    rows: list[dict[str, Any]], filename: str, config: MeasuresConfig
) -> StreamingResponse:
    return StreamingResponse(
        _lines(rows, labels(config)),
        media_type=CSV_MEDIA_TYPE,
        headers={"content-disposition": f"attachment; filename*=UTF-8''{quote(filename)}.csv"},
    )
