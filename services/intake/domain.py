"""Intake's pure decisions: what a valid demand is and which events filing it produces."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events import Channel, ComplaintFiled

CHINA = ZoneInfo("Asia/Shanghai")

# A 12-digit statistical division code (统计用区划代码) down to the community, then optional
# local codes for grid (网格), building (楼栋) and unit (单元), e.g. 370124001001-G01-B03-U2.
AREA_CODE_PATTERN = r"^\d{12}(-[A-Z0-9]{1,8}){0,3}$"
MOBILE_PATTERN = re.compile(r"^1[3-9]\d{9}$")
PHONE_PATTERN = r"^\+?[\d\- ]{5,20}$"


class Contact(BaseModel):
    """Who to call back. Kept only in intake's encrypted vault."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, max_length=50, description="诉求人姓名 Resident's name")
    phone: str = Field(pattern=PHONE_PATTERN, description="联系电话 Phone number")


class FileComplaint(BaseModel):
    """A resident's demand (诉求) as a channel submits it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel: Channel = Field(description="受理渠道 Channel")
    text: str = Field(min_length=2, max_length=5000, description="诉求内容 What the resident says")
    category: str | None = Field(
        None,
        pattern=r"^[a-z][a-z0-9-]{1,40}$",
        description="诉求类别代码 Category code from the catalogue, if known",
    )
    area_code: str = Field(
        pattern=AREA_CODE_PATTERN,
        description="区划代码 Area code (community[-grid[-building[-unit]]])",
    )
    address: str = Field(min_length=1, max_length=200, description="详细地址 Address")
    latitude: float | None = Field(None, ge=-90, le=90, description="纬度 WGS-84 latitude")
    longitude: float | None = Field(None, ge=-180, le=180, description="经度 WGS-84 longitude")
    contact: Contact

    @model_validator(mode="after")
    def _both_coordinates_or_none(self) -> FileComplaint:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude must be given together (经纬度须同时提供)")
        return self


def normalise_phone(phone: str) -> str:
    digits = re.sub(r"[^\d]", "", phone)
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def mask_phone(phone: str) -> str:
    """138****5678 for a mobile number; keep only the last four digits otherwise."""
    digits = normalise_phone(phone)
    if MOBILE_PATTERN.match(digits):
        return f"{digits[:3]}****{digits[-4:]}"
    return f"****{digits[-4:]}" if len(digits) > 4 else "****"


def resident_ref(phone: str, pepper: str) -> str:
    """A stable pseudonym for the resident: the same phone gives the same reference."""
    digest = hmac.new(pepper.encode(), normalise_phone(phone).encode(), hashlib.sha256)
    return f"R-{digest.hexdigest()[:20]}"


def case_number(sequence: int, filed_at: datetime) -> str:
    """Human-readable and unique: JS-<date in China>-<sequence>."""
    return f"JS-{filed_at.astimezone(CHINA):%Y%m%d}-{sequence:06d}"


def file_complaint(
    command: FileComplaint,
    *,
    complaint_id: UUID,
    number: str,
    resident: str,
    filed_at: datetime,
) -> list[ComplaintFiled]:
    return [
        ComplaintFiled(
            complaint_id=complaint_id,
            case_number=number,
            channel=command.channel,
            text=command.text,
            category=command.category,
            area_code=command.area_code,
            address=command.address,
            latitude=command.latitude,
            longitude=command.longitude,
            resident_ref=resident,
            masked_phone=mask_phone(command.contact.phone),
            filed_at=filed_at,
        )
    ]
