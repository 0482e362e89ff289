"""Events owned by intake, published on `complaint.events`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from shared.events.base import Event


class Channel(StrEnum):
    """Where a demand came in (受理渠道)."""

    HOTLINE = "hotline"  # 12345 热线
    WECHAT = "wechat"  # 微信群 / 公众号
    APP = "app"  # App / 网站
    WALK_IN = "walk_in"  # 社区"我来办"工作站
    GRID_PATROL = "grid_patrol"  # 网格员巡查
    PROPERTY_APP = "property_app"  # 物业 App
    OPEN311 = "open311"  # Open311 客户端


class ComplaintFiled(Event):
    """A resident's demand (诉求) was accepted and given a case number."""

    event_type = "ComplaintFiled"
    version = 1

    complaint_id: UUID
    case_number: str
    channel: Channel
    text: str
    category: str | None = None
    area_code: str
    address: str
    latitude: float | None = None
    longitude: float | None = None
    # Pseudonymous: the contact itself stays in intake's vault (public topics carry no PII).
    resident_ref: str
    masked_phone: str | None = None
    filed_at: datetime
