"""The WeChat official account's server URL (服务器配置): a resident rates a result by message.

WeChat signs each push with `sha1(sorted([token, timestamp, nonce]))` and sends XML in the clear
(明文模式; the AES 安全模式 is not supported). We do not know a resident's openid, so the message
names the case and proves the phone tail, as the lookup does: "JS-20261124-000001 5678 1".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from services.intake import store
from services.intake.api.deps import intake_of, runtime_of
from services.intake.domain import ratings
from shared import commands, idempotency
from shared.answers import problem
from shared.apikeys import PUBLIC
from shared.db import Connection
from shared.events import ComplaintStatus, RatedVia
from shared.http import Problem, correlation_of
from shared.privacy import narrow

router = APIRouter()
WECHAT = "微信公众号 WeChat"
_TAIL = re.compile(r"(?<!\d)(\d{4})(?!\d)")
HOW_TO = (
    "请回复「受理编号 手机尾号后四位 评价数字」，如「JS-20261124-000001 5678 1」。"
    "评价数字：1 满意，2 基本满意，3 不满意。"
)


def signature(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Message:
    to_user: str  # the official account
    from_user: str  # the resident's openid
    msg_type: str
    content: str
    msg_id: str


_ENCODING = re.compile(r"""<\?xml[^>]*encoding\s*=\s*["']([^"']+)""")


def parse_message(body: bytes) -> Message:
    """WeChat's XML push, always UTF-8 and never with a DTD: a body in another encoding (where
    a byte search for `<!` would miss a declaration, e.g. UTF-16) or with a declaration is
    refused before parsing."""
    text = body.decode("utf-8")  # UnicodeDecodeError is a ValueError: refused
    declared = _ENCODING.search(text[:200])
    if declared and declared.group(1).lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise ValueError(f"encoding {declared.group(1)}: WeChat sends UTF-8")
    if "<!" in text.replace("<![CDATA[", ""):
        raise ValueError("a DTD or entity declaration")
    root = ET.fromstring(body)

    def field(name: str) -> str:
        return (root.findtext(name) or "").strip()

    return Message(
        to_user=field("ToUserName"),
        from_user=field("FromUserName"),
        msg_type=field("MsgType"),
        content=field("Content"),
        msg_id=field("MsgId") or f"{field('FromUserName')}:{field('CreateTime')}",
    )


def text_reply(message: Message, content: str, now: datetime) -> str:
    """A passive reply (被动回复) to `message`: a text back to the resident."""
    root = ET.Element("xml")
    for name, value in (
        ("ToUserName", message.from_user),
        ("FromUserName", message.to_user),
        ("CreateTime", str(int(now.timestamp()))),
        ("MsgType", "text"),
        ("Content", content),
    ):
        ET.SubElement(root, name).text = value
    return ET.tostring(root, encoding="unicode")


def _verified(request: Request, signed: str, timestamp: int, nonce: str) -> None:
    """Refuse what WeChat did not sign, or signed too long ago (a replay)."""
    settings = intake_of(request).settings
    if not settings.wechat_token:
        raise Problem(404, "未启用微信公众号评价 WeChat replies are not enabled")
    expected = signature(settings.wechat_token, str(timestamp), nonce)
    if not hmac.compare_digest(expected, signed.lower()):
        raise Problem(403, "微信签名无效 Not signed by WeChat", field="signature")
    age = abs(commands.now().timestamp() - timestamp)
    if age > settings.wechat_timestamp_window_s:
        raise Problem(403, "微信签名已过期 The signature is too old", field="timestamp")


Signature = Annotated[str, Query(min_length=1, max_length=64, description="微信签名")]
Timestamp = Annotated[int, Query(ge=0, lt=2**40, description="时间戳（秒）")]
Nonce = Annotated[str, Query(min_length=1, max_length=64, description="随机数")]
SIGNED = {
    **problem(403, "签名无效或已过期 Not signed by WeChat, or too long ago"),
    **problem(404, "未启用 Not enabled: INTAKE_WECHAT_TOKEN is empty"),
}


@router.get(
    "/wechat",
    dependencies=[PUBLIC],
    tags=[WECHAT],
    summary="微信服务器配置校验 WeChat's check of the server URL",
    description="由微信签名认证，而非 API Key。Authenticated by WeChat's signature, not a key.",
    response_class=PlainTextResponse,
    responses=SIGNED,
)
async def wechat_check(
    request: Request,
    signature: Signature,
    timestamp: Timestamp,
    nonce: Nonce,
    echostr: Annotated[str, Query(max_length=128)],
) -> PlainTextResponse:
    _verified(request, signature, timestamp, nonce)
    return PlainTextResponse(echostr)


@router.post(
    "/wechat",
    dependencies=[PUBLIC],
    tags=[WECHAT],
    summary="微信公众号消息：居民评价办理结果 A resident's WeChat message rating a result",
    description=(
        "由微信签名认证（sha1(sorted([token, timestamp, nonce]))，时间戳须在窗口内）。消息须含受理编号、"
        "手机尾号后四位和评价（1/2/3 或 满意/基本满意/不满意）；同一 MsgId 重复推送只记录一次。"
        " Authenticated by WeChat's signature within a time window. The message names the case,"
        " the phone tail and the rating; a MsgId pushed again records once. Answers a text reply."
    ),
    response_class=Response,
    responses={
        **SIGNED,
        200: {"content": {"application/xml": {"schema": {"type": "string"}}}},
        **problem(400, "无法解析的微信消息 Not a WeChat message"),
    },
    openapi_extra={"requestBody": {"content": {"application/xml": {"schema": {"type": "string"}}}}},
)
async def wechat_message(
    request: Request, signature: Signature, timestamp: Timestamp, nonce: Nonce
) -> Response:
    _verified(request, signature, timestamp, nonce)
    try:
        message = parse_message(await request.body())
    except (ValueError, ET.ParseError):
        raise Problem(400, "无法解析的微信消息 Not a WeChat message") from None
    if message.msg_type != "text" or not message.from_user:
        return PlainTextResponse("success")  # WeChat's "nothing to say" answer
    runtime = runtime_of(request)
    # The signature covers the token, timestamp and nonce, not the body: a signed URL seen once
    # (a proxy's log) would carry any message for the window. Each (nonce, timestamp) carries
    # one message; WeChat's own retry of it is the same message.
    window = intake_of(request).settings.wechat_timestamp_window_s
    async with runtime.pool.acquire() as conn:
        if not await store.first_push(conn, nonce, timestamp, message.msg_id, 2 * window):
            raise Problem(403, "微信签名已用于另一条消息 A signature used again", field="nonce")
    scoped = idempotency.scoped("wechat", "message", message.msg_id)
    payload = {"from": message.from_user, "content": message.content}

    async def produce() -> tuple[int, dict[str, Any]]:
        return 200, {"reply": await _rate_by_wechat(conn, request, message)}

    async with runtime.pool.acquire() as conn, conn.transaction():
        answer = await idempotency.idempotent(conn, scoped, payload, produce)
    reply = _reply_of(answer.body)
    return Response(text_reply(message, reply, commands.now()), media_type="application/xml")


def _reply_of(body: bytes | memoryview) -> str:
    return str(json.loads(bytes(body))["reply"])


async def _rate_by_wechat(conn: Connection, request: Request, message: Message) -> str:
    settings = intake_of(request).settings
    content = narrow(message.content)
    case_number = ratings.parse_reply(content).case_number
    rest = ratings.CASE_NUMBER_IN_TEXT.sub(" ", content, count=1)
    tail = _TAIL.search(rest)
    said = ratings.parse_reply(_TAIL.sub(" ", rest, count=1))
    if said.satisfaction is None or case_number is None or tail is None:
        return HOW_TO
    # Four digits are guessable: each case and each resident's account get a few tries a
    # minute, as the lookup's are (the same counters: guesses here and there add up).
    limiter = runtime_of(request).limiter
    try:
        await limiter.check(f"lookup-case:{case_number}", settings.lookup_rate_per_case_per_minute)
        await limiter.check(f"wechat:{message.from_user}", settings.lookup_rate_per_minute)
    except Problem:
        return "查询过于频繁，请稍后再试。"
    view = await store.find_view(conn, case_number=case_number)
    matches = await store.tail_matches(conn, view, tail.group(1), settings.lookup_max_misses)
    if not matches or view is None:
        return "未找到该编号，或手机尾号不符。" + HOW_TO
    level = said.satisfaction
    try:
        state = await intake_of(request).rate(
            conn,
            view["complaint_id"],
            level,
            RatedVia.WECHAT,
            said.comment,
            correlation_of(request),
        )
    except Problem as refused:
        if refused.status != 409:
            raise
        return f"诉求 {case_number} 目前没有待评价的办理结果（或本轮已评价），感谢您的回复。"
    return ratings.thanks(state.case_number, level, state.status is ComplaintStatus.REDO)
