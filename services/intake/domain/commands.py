"""What channels and staff ask of a complaint: the commands' bodies, checked as they arrive."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.events import Channel, ComplaintType, NoticeChannel, Satisfaction
from shared.events.area import PATTERN as AREA_PATTERN
from shared.events.area import enclosing
from shared.privacy import FreeText

CATEGORY_PATTERN = r"^[a-z][a-z0-9-]{1,40}$"
PHONE_PATTERN = r"^\+?[\d\- ]{5,20}$"
MEDIA_URL = r"^https?://\S+$"  # never javascript:, data: or file: links


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Contact(_Command):
    """Who to call back. Kept only in intake's encrypted vault."""

    name: str | None = Field(None, max_length=50, description="诉求人姓名 Resident's name")
    phone: str = Field(
        pattern=PHONE_PATTERN,
        description="联系电话，至少 5 位数字 Phone number, at least five digits",
    )
    wechat_openid: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{6,64}$",
        description="微信 openid（经微信受理时）Where WeChat progress messages go",
    )

    @field_validator("phone")
    @classmethod
    def _has_digits(cls, phone: str) -> str:
        if sum(c.isdigit() for c in phone) < 5:
            raise ValueError("联系电话至少含 5 位数字 A phone number needs at least five digits")
        return phone


class FileComplaint(_Command):
    """A resident's demand (诉求) as a channel submits it."""

    channel: Channel = Field(description="受理渠道 Channel")
    text: str = Field(min_length=2, max_length=2000, description="诉求内容 What the resident says")
    type: ComplaintType | None = Field(None, description="诉求类型 Type, if the channel knows it")
    category: str | None = Field(
        None, pattern=CATEGORY_PATTERN, description="诉求类别代码 Category code, if known"
    )
    area_code: str = Field(
        pattern=AREA_PATTERN,
        description="区划代码 Area code (community[-grid[-building[-unit]]])",
    )
    address: str = Field(min_length=1, max_length=200, description="详细地址 Address")
    latitude: float | None = Field(None, ge=-90, le=90, description="纬度 Latitude")
    longitude: float | None = Field(None, ge=-180, le=180, description="经度 Longitude")
    datum: str = Field(
        "wgs84",
        pattern="^(wgs84|gcj02|bd09)$",
        description="坐标系 Datum of the coordinates: wgs84, gcj02 (高德/腾讯) or bd09 (百度)",
    )
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        max_length=50,
        description="附加信息 Answers to the category's questions",
    )
    media_urls: list[Annotated[str, Field(pattern=MEDIA_URL, max_length=2000)]] = Field(
        default_factory=list, max_length=9, description="图片/视频链接（http/https） Media links"
    )
    contact: Contact
    wechat_group: str | None = Field(
        None,
        pattern=r"^\d{12}$",
        description=(
            "居民微信群所属社区（渠道 wechat）：值班人员须1小时内在群内公开回复 The community "
            "whose residents' WeChat group it was posted in (channel wechat): the member on duty "
            "replies in the group within the hour"
        ),
    )

    @model_validator(mode="after")
    def _both_coordinates_or_none(self) -> FileComplaint:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude must be given together (经纬度须同时提供)")
        return self

    @model_validator(mode="after")
    def _a_group_of_its_community(self) -> FileComplaint:
        if self.wechat_group is None:
            return self
        if self.channel is not Channel.WECHAT:
            raise ValueError("居民微信群的诉求须经 wechat 渠道 wechat_group needs channel wechat")
        if not self.area_code.startswith(self.wechat_group):
            raise ValueError(
                "诉求区域须在该微信群所属社区内 area_code must lie in the group's community"
            )
        return self


class Reclassify(_Command):
    type: ComplaintType = Field(description="诉求类型 Type")
    category: str = Field(pattern=CATEGORY_PATTERN, description="诉求类别代码 Category code")
    reason: FreeText = Field("人工分类", min_length=1, max_length=500, description="原因 Reason")


class AnswerOnSpot(_Command):
    answer: FreeText = Field(min_length=2, max_length=2000, description="答复内容 The answer given")


class Merge(_Command):
    into: str = Field(
        min_length=1, max_length=64, description="主诉求的编号或 ID Case number or id to merge into"
    )
    reason: FreeText = Field("重复诉求并案", min_length=1, max_length=500)


class Reason(_Command):
    reason: FreeText = Field(min_length=1, max_length=500, description="原因 Reason")


class CallBack(_Command):
    contacted: bool = Field(description="是否联系上诉求人 Was the resident reached?")
    resolved: bool | None = Field(None, description="问题是否解决 Resolved?")
    satisfied: bool | None = Field(
        None, description="是否满意（两级；给出 satisfaction 时可省略）Satisfied? (two levels)"
    )
    satisfaction: Satisfaction | None = Field(
        None, description="满意度（满意/基本满意/不满意）The three-level rating"
    )
    comment: FreeText | None = Field(None, max_length=1000, description="回访记录 Notes")

    @model_validator(mode="after")
    def _answers_when_contacted(self) -> CallBack:
        if self.satisfaction is not None:
            counts = self.satisfaction is Satisfaction.SATISFIED
            if self.satisfied is not None and self.satisfied is not counts:
                raise ValueError(
                    "satisfied 与 satisfaction 不一致（只有「满意」计为 satisfied）"
                    " satisfied contradicts satisfaction"
                )
            self.satisfied = counts
        if self.contacted and (self.resolved is None or self.satisfied is None):
            raise ValueError(
                "联系上诉求人时须填写 resolved 与 satisfaction (required when contacted)"
            )
        if not self.contacted and (self.resolved is not None or self.satisfied is not None):
            raise ValueError("未联系上时不能填写评价 (no ratings without contact)")
        return self


# --- notices to an area (区域通知) ---

EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,60}$"


class NoticeContact(_Command):
    """Where a resident's area notices go. Kept only in intake's encrypted vault."""

    phone: str = Field(pattern=PHONE_PATTERN, description="手机号 Mobile number (SMS)")
    wechat_openid: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]{6,64}$", description="微信 openid（公众号通知）"
    )
    email: str | None = Field(None, pattern=EMAIL_PATTERN, max_length=254, description="电子邮件")


class ConsentToNotices(_Command):
    """A resident agrees to receive the notices for their home (停水停电、会议、征求意见).
    Given again, the newer channels and contact stand."""

    contact: NoticeContact
    area_code: str = Field(
        pattern=AREA_PATTERN,
        description="住处：楼栋或单元编码 The resident's home: a building or a unit code",
    )
    channels: list[NoticeChannel] = Field(
        default_factory=lambda: [NoticeChannel.SMS],
        min_length=1,
        max_length=3,
        description="接收方式 The channels notices go by (default: SMS)",
    )

    @model_validator(mode="after")
    def _contact_for_every_channel(self) -> ConsentToNotices:
        if enclosing(self.area_code).building is None:
            raise ValueError("住处须为楼栋或单元 The home must be a building or a unit")
        self.channels = list(dict.fromkeys(self.channels))
        if NoticeChannel.WECHAT in self.channels and not self.contact.wechat_openid:
            raise ValueError("选择微信接收须提供 wechat_openid (WeChat needs an openid)")
        if NoticeChannel.EMAIL in self.channels and not self.contact.email:
            raise ValueError("选择邮件接收须提供 email (email needs an address)")
        return self


class WithdrawNoticeConsent(_Command):
    """A resident no longer wants notices for a home (or, without `area_code`, for any)."""

    phone: str | None = Field(None, pattern=PHONE_PATTERN, description="手机号 Mobile number")
    resident_ref: str | None = Field(
        None, pattern=r"^R-[0-9a-f]{20}$", description="居民假名编号 The resident's reference"
    )
    area_code: str | None = Field(
        None, pattern=AREA_PATTERN, description="住处；为空则全部撤回 The home; none: every home"
    )

    @model_validator(mode="after")
    def _one_way_to_name_the_resident(self) -> WithdrawNoticeConsent:
        if (self.phone is None) == (self.resident_ref is None):
            raise ValueError("须且只能提供 phone 或 resident_ref 之一 Give phone or resident_ref")
        return self


# --- 随手做 and 巡查: what grid workers and heads file ------------------------------------------


class FixOnSpot(_Command):
    """A matter a grid worker or grid head found and fixed on the spot (随手做): filed already
    done, closed at once, never dispatched. No resident is behind it."""

    text: FreeText = Field(min_length=2, max_length=2000, description="发现的问题 What was found")
    done: FreeText = Field(
        min_length=2, max_length=1000, description="当场做了什么 What was done on the spot"
    )
    type: ComplaintType | None = Field(None, description="诉求类型 Type, if known")
    category: str | None = Field(
        None, pattern=CATEGORY_PATTERN, description="诉求类别代码 Category code, if known"
    )
    area_code: str = Field(
        pattern=AREA_PATTERN,
        description="区划代码 Area code (community[-grid[-building[-unit]]])",
    )
    address: FreeText = Field(min_length=1, max_length=200, description="地点 Where")
    media_urls: list[Annotated[str, Field(pattern=MEDIA_URL, max_length=2000)]] = Field(
        default_factory=list, max_length=9, description="处置前后照片链接 Photos (http/https)"
    )
    worker: str | None = Field(
        None, min_length=1, max_length=20, description="处置人姓名 Who fixed it (网格员/网格长)"
    )


class Finding(_Command):
    """One matter found on a patrol: fixed on the spot (随手做), reported by the case number of
    the complaint filed for it, or noted to be followed up (及时记)."""

    text: FreeText = Field(min_length=2, max_length=2000, description="发现的问题 What was found")
    area_code: str = Field(
        pattern=AREA_PATTERN, description="发现地点的区划代码 Where (inside the patrol's area)"
    )
    address: FreeText = Field(min_length=1, max_length=200, description="地点 Where")
    category: str | None = Field(
        None, pattern=CATEGORY_PATTERN, description="诉求类别代码 Category code, if known"
    )
    type: ComplaintType | None = Field(None, description="诉求类型 Type, if known")
    done: FreeText | None = Field(
        None,
        min_length=2,
        max_length=1000,
        description="当场解决时：做了什么（随手做） What was done, when fixed on the spot",
    )
    media_urls: list[Annotated[str, Field(pattern=MEDIA_URL, max_length=2000)]] = Field(
        default_factory=list, max_length=9, description="照片链接 Photos (http/https)"
    )
    case_number: str | None = Field(
        None,
        pattern=r"^JS-\d{8}-\d{6,}$",
        description="已上报时：另行受理的诉求编号 The case filed for it, when reported",
    )

    @model_validator(mode="after")
    def _fixed_or_reported(self) -> Finding:
        if self.done is not None and self.case_number is not None:
            raise ValueError(
                "当场解决（done）与上报（case_number）只能选其一 Fixed on the spot or reported, not both"
            )
        return self


class RecordPatrol(_Command):
    """A patrol (巡查) as the grid worker or head records it: who walked where, when, and what
    was found on the way."""

    area_code: str = Field(
        pattern=AREA_PATTERN, description="巡查的网格或社区 The grid (or community) walked"
    )
    patroller: str = Field(min_length=1, max_length=20, description="巡查人姓名 Who walked it")
    started_at: datetime = Field(description="开始时间 When the walk began")
    ended_at: datetime | None = Field(None, description="结束时间（默认现在） When it ended")
    note: FreeText | None = Field(None, max_length=1000, description="巡查记录 Notes")
    findings: list[Finding] = Field(
        default_factory=list, max_length=50, description="发现的问题 What was found"
    )

    @model_validator(mode="after")
    def _in_order(self) -> RecordPatrol:
        if self.started_at.tzinfo is None or (
            self.ended_at is not None and self.ended_at.tzinfo is None
        ):
            raise ValueError("时间须带时区 Times need a time zone (e.g. +08:00)")
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError("结束时间早于开始时间 The walk ends before it began")
        return self
