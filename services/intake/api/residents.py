"""Residents' personal data: their contacts, decrypted for a person or the notification service
(each reading recorded), their words keys for reporting, and their erasure (crypto-shredding)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from services.intake import app, store
from services.intake.api import schemas
from services.intake.api.deps import (
    NO_CATALOGUE,
    REFUSALS,
    RESIDENTS,
    STAFF,
    ChannelKey,
    ContactReader,
    NotifyKey,
    ReportingKey,
    StaffKey,
    answer,
    catalogue_of,
    intake_of,
    runtime_of,
    seen_by,
)
from services.intake.auth import ApiKey, Role
from services.intake.domain import decisions
from services.intake.domain.commands import ConsentToNotices, Contact, WithdrawNoticeConsent
from services.intake.domain.privacy import mask_phone, resident_ref
from shared import idempotency
from shared.answers import problem
from shared.commands import causation_of, now
from shared.db import Connection
from shared.events import ContactsAccessed, ResidentErased
from shared.events.area import enclosing
from shared.http import Answer, Correlation, Problem, correlation_of, once
from shared.idempotency import IdempotencyKey

router = APIRouter()


@router.get(
    "/complaints/{ref}/contact",
    tags=[STAFF],
    summary="查看诉求人联系方式（解密）The resident's contact, decrypted",
    response_model=Contact,
    responses={**REFUSALS, **problem(410, "已按居民请求删除 Erased")},
)
async def contact(
    ref: str,
    request: Request,
    key: ContactReader,
    purpose: Annotated[
        str,
        Query(
            min_length=2, max_length=200, description="用途，如「回访」 Why it is read (recorded)"
        ),
    ],
) -> JSONResponse:
    runtime = runtime_of(request)
    settings = runtime.settings
    if key.role is not Role.NOTIFY:  # a person reads a few; walking case numbers is refused
        await runtime.limiter.check(f"contact:{key.key_id}", settings.contact_reads_per_minute)
    async with runtime.pool.acquire() as conn, conn.transaction():
        complaint_id = await seen_by(conn, key, ref)
        try:
            found = await store.read_contact(conn, settings.master_keys, complaint_id)
        except store.ContactErased:
            raise Problem(
                410, "诉求人已要求删除个人信息，联系方式不可再读取 The contact was erased"
            ) from None
        if found is not None:
            await _record_reading(request, conn, key, [complaint_id], purpose)
    if found is None:
        raise Problem(404, f"诉求 {ref} 没有联系方式 No contact stored")
    return answer(found.model_dump())


async def _record_reading(
    request: Request,
    conn: Connection,
    key: ApiKey,
    complaint_ids: list[uuid.UUID],
    purpose: str,
    resident_refs: list[str] | None = None,
) -> None:
    """Record who read which residents' contacts, when and why (`ContactsAccessed`), in the same
    transaction as the reading: no contact leaves intake unrecorded."""
    event = ContactsAccessed(
        complaint_ids=complaint_ids,
        actor=key.actor,
        key_id=key.key_id,
        purpose=purpose,
        read_at=datetime.now(UTC),
        resident_refs=resident_refs or [],
    )
    stream = f"contacts-read-{uuid.uuid4()}"  # one stream a reading: readings never contend
    causation = causation_of([], correlation_of(request))
    await runtime_of(request).store.append(conn, stream, [event], causation, None)


@router.post(
    "/contacts/lookup",
    tags=[STAFF],
    summary="批量查看诉求人联系方式（解密）Several residents' contacts, decrypted, at once",
    description=(
        "通知服务按批发送时一次取回本批诉求人的联系方式。"
        " What the notification service asks once per batch of messages: `contacts` by complaint"
        " id, and the ids whose contact was `erased` or is `missing`."
    ),
    response_model=schemas.Contacts,
)
async def contacts(lookup: schemas.ContactLookup, request: Request, key: NotifyKey) -> JSONResponse:
    runtime = runtime_of(request)
    async with runtime.pool.acquire() as conn, conn.transaction():
        found = await store.read_contacts(conn, runtime.settings.master_keys, lookup.complaint_ids)
        read = [cid for cid, c in found.items() if not isinstance(c, Exception)]
        if read:
            await _record_reading(request, conn, key, read, lookup.purpose)
    return answer(schemas.contacts(found, lookup.complaint_ids))


@router.post(
    "/residents/notice-contacts/lookup",
    tags=[STAFF],
    summary="批量查看居民的区域通知联系方式（解密）Residents' contacts for area notices, decrypted",
    description=(
        "通知服务发送区域通知（停水停电、会议、征求意见）时按居民匿名编号取回联系方式，"
        "每次读取均有记录（ContactsAccessed）。"
        " What the notification service asks when it sends an area notice: `contacts` by resident"
        " ref, and the refs whose contact was `erased` or is `missing`. Every reading is recorded."
    ),
    response_model=schemas.NoticeContacts,
)
async def notice_contacts(
    lookup: schemas.NoticeContactsLookup, request: Request, key: NotifyKey
) -> JSONResponse:
    runtime = runtime_of(request)
    async with runtime.pool.acquire() as conn, conn.transaction():
        found = await store.read_notice_contacts(
            conn, runtime.settings.master_keys, lookup.resident_refs
        )
        read = [ref for ref, c in found.items() if not isinstance(c, Exception)]
        if read:
            await _record_reading(request, conn, key, [], lookup.purpose, read)
    return answer(schemas.notice_contacts(found, lookup.resident_refs))


@router.post(
    "/residents/notice-consent",
    tags=[RESIDENTS],
    summary="同意接收区域通知 Consent to the notices for one's home",
    description=(
        "居民（经公众号、App 或社区工作站）同意接收其住处（楼栋或单元）的通知：停水停电、会议、"
        "征求意见。联系方式只存于加密保险库，可随个人信息一并删除。重复提交不会重复登记。"
        " A resident (through the official account, the app or the community's desk) agrees to"
        " the notices for their home, a building or a unit, by SMS, WeChat or email. The contact"
        " is kept only in the encrypted vault and is erased with the rest; the same consent"
        " twice records nothing more."
    ),
    response_model=schemas.NoticeConsent,
    responses=NO_CATALOGUE,
)
async def consent_to_notices(
    command: ConsentToNotices, request: Request, key: ChannelKey, correlation: Correlation
) -> JSONResponse:
    intake, settings = intake_of(request), runtime_of(request).settings
    may_handle_consent(key, command.area_code)
    building = enclosing(command.area_code).building
    if building not in (await catalogue_of(request)).areas:
        raise Problem(422, f"未知的楼栋 {building} Unknown building")
    resident = resident_ref(command.contact.phone, settings.resident_pepper)
    masked = mask_phone(command.contact.phone)
    async with runtime_of(request).pool.acquire() as conn, conn.transaction():
        await store.store_notice_contact(conn, settings.master_keys, resident, command.contact)
        events = await intake.consent(
            conn,
            resident,
            lambda homes: decisions.consent_to_notices(homes, resident, masked, command, now()),
            correlation,
        )
        homes = await store.homes_of(conn, resident)
    return answer(schemas.notice_consent(resident, bool(events), homes_seen_by(key, homes)))


@router.post(
    "/residents/notice-consent/withdrawal",
    tags=[RESIDENTS],
    summary="撤回区域通知的同意 Withdraw the consent to area notices",
    description=(
        "撤回一处住处（或不写 area_code 则全部）的通知。"
        " No more notices for one home, or for any when `area_code` is left out."
    ),
    response_model=schemas.NoticeConsent,
)
async def withdraw_notice_consent(
    command: WithdrawNoticeConsent, request: Request, key: ChannelKey, correlation: Correlation
) -> JSONResponse:
    pepper = runtime_of(request).settings.resident_pepper
    resident = command.resident_ref or resident_ref(command.phone or "", pepper)
    area = command.area_code
    may_handle_consent(key, area)
    async with runtime_of(request).pool.acquire() as conn, conn.transaction():
        events = await intake_of(request).consent(
            conn,
            resident,
            lambda homes: decisions.withdraw_notice_consent(homes, resident, area, now()),
            correlation,
        )
        homes = await store.homes_of(conn, resident)
    return answer(schemas.notice_consent(resident, bool(events), homes_seen_by(key, homes)))


def may_handle_consent(key: ApiKey, area_code: str | None) -> None:
    """A staff key registers and withdraws consents for homes in its own area only (a
    withdrawal from every home, `area_code` None, is for keys of the whole city)."""
    if not key.covers(area_code):
        raise Problem(
            403,
            "住处不在本密钥的区域；工作人员须写明本区域内的住处"
            " The home is outside this key's area (staff name a home in their area)",
            field="area_code",
        )


def homes_seen_by(key: ApiKey, homes: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The resident's homes a key may be told of: a staff key learns none outside its area
    (a phone number must not tell a street where someone lives in another street)."""
    return {home: channels for home, channels in homes.items() if key.covers(home)}


@router.post(
    "/residents/keys",
    tags=[STAFF],
    summary="批量取回居民诉求内容密钥 Residents' words keys, to open sealed filings",
    description=(
        "统计服务按批取回密钥，以解开 ComplaintFiled 中加密的诉求内容与详细地址；"
        "居民已删除个人信息的为 null。"
        " What reporting asks once per batch of events: each resident's words key (base64), or"
        " null once the resident was erased. A words key opens what the resident said in their"
        " filings, never their contact."
    ),
    response_model=schemas.WordsKeys,
)
async def words_keys(
    lookup: schemas.KeysLookup, request: Request, key: ReportingKey
) -> JSONResponse:
    runtime = runtime_of(request)
    async with runtime.pool.acquire() as conn:
        found = await store.words_keys(conn, runtime.settings.master_keys, lookup.resident_refs)
    response = answer(schemas.words_keys(found))
    response.headers["Cache-Control"] = "no-store"  # keys: never kept by a cache on the way
    return response


@router.post(
    "/residents/erasure",
    tags=[STAFF],
    summary="删除居民个人信息（加密粉碎）Erase a resident's contact (crypto-shredding)",
    response_model=schemas.Erased,
    responses=NO_CATALOGUE,
)
async def erase(
    command: schemas.Erasure,
    request: Request,
    key: StaffKey,
    correlation: Correlation,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    runtime = runtime_of(request)
    if (command.phone is None) == (command.resident_ref is None):
        raise Problem(422, "须且只能提供 phone 或 resident_ref 之一 Give phone or resident_ref")
    pepper = runtime.settings.resident_pepper
    resident = command.resident_ref or resident_ref(command.phone or "", pepper)

    async def produce(conn: Connection) -> Answer:
        count = await store.erase_resident(conn, resident)
        now = datetime.now(UTC)
        event = ResidentErased(resident_ref=resident, complaints=count, erased_at=now)
        causation = causation_of([], correlation)  # an erasure starts its own conversation
        await runtime.store.append(conn, f"resident-{resident}", [event], causation, None)
        # Each complaint forgets what the resident said and where exactly (ComplaintRedacted:
        # every service's read model follows), and the answers kept for retried writes go.
        catalogue = await intake_of(request).catalogue(conn)
        complaint_ids = await store.complaints_of(conn, resident)
        for complaint_id in complaint_ids:
            await app.change(
                conn,
                runtime.store,
                complaint_id,
                lambda state: decisions.redact(
                    state, catalogue.public_place(state.area_code)[1], now
                ),
                correlation,
            )
        await idempotency.forget_answers_about(conn, complaint_ids)
        return 200, schemas.erased(resident, count)

    return await once(
        request, key.key_id, "erase", idempotency_key, {"resident": resident}, produce
    )
