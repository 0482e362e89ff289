"""Residents rate the result themselves: the SMS gateway's uplink and the signed one-time link."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from services.intake import store
from services.intake.api import schemas
from services.intake.api.deps import (
    RESIDENTS,
    SmsGatewayKey,
    answer,
    client_of,
    intake_of,
    runtime_of,
)
from services.intake.domain import ratings
from services.intake.domain.privacy import resident_ref
from shared import commands
from shared.answers import problem
from shared.apikeys import PUBLIC
from shared.db import Connection
from shared.events import ComplaintStatus, RatedVia
from shared.http import Answer, Correlation, Problem, correlation_of, once

router = APIRouter()
GATEWAY = "短信网关 SMS gateway"


# --- the SMS gateway's uplink ----------------------------------------------------------------


OUTCOMES = (
    "recorded: 已记录评价；unsatisfied 时已重新交办 (redo)。"
    " not_understood: 未能识别评价。nothing_to_rate: 该号码没有待评价的诉求（或本轮已评价，不再记录）。"
    " ambiguous: 有多件待评价，须在回复中注明受理编号。"
    " `reply` is a sentence the gateway may send back to the resident."
)


@router.post(
    "/sms/replies",
    tags=[GATEWAY],
    summary="短信上行：居民回复评价办理结果 A resident's SMS reply rating a result",
    description=(
        "居民回复结果短信「1/2/3」或「满意/基本满意/不满意」（可附受理编号）。同一网关消息重复投递只记录一次，"
        "返回首次的答复；本轮已评价后的再次回复不再记录。 The same message id delivered again gets the"
        " first answer and records nothing more; a second rating of a round is ignored. " + OUTCOMES
    ),
    response_model=schemas.SmsOutcome,
    responses=problem(403, "非短信网关密钥 Not the SMS gateway's key"),
)
async def sms_reply(reply: schemas.SmsReply, request: Request, _: SmsGatewayKey) -> JSONResponse:
    # What the kept request hash covers: the resident's pseudonym, not the phone (a hash of a
    # phone and "1" is a phone anyone can find again by trying them all).
    resident = resident_ref(reply.phone, intake_of(request).settings.resident_pepper)
    payload = {"resident": resident, "text": reply.text}

    async def produce(conn: Connection) -> Answer:
        return 200, await _rate_by_sms(conn, request, reply)

    # Keyed by the gateway's message id alone, not by the key that brought it: a redelivery
    # after the gateway's key is rotated is still the same message.
    return await once(request, "sms-gateway", "reply", reply.message_id, payload, produce)


async def _rate_by_sms(
    conn: Connection, request: Request, reply: schemas.SmsReply
) -> dict[str, Any]:
    said = ratings.parse_reply(reply.text)
    if said.satisfaction is None:
        return {
            "outcome": "not_understood",
            "reply": "未能识别您的评价，请回复数字：1 满意，2 基本满意，3 不满意。",
        }
    resident = resident_ref(reply.phone, intake_of(request).settings.resident_pepper)
    # A reply sent before a result was reported does not rate it (a late "1" to the receipt).
    waiting = await store.awaiting_rating(conn, resident, reply.received_at)
    if said.case_number is not None:
        waiting = [w for w in waiting if w["case_number"] == said.case_number]
    if not waiting:
        return {"outcome": "nothing_to_rate", "reply": "您目前没有待评价的诉求，感谢您的回复。"}
    if len(waiting) > 1:
        numbers = [w["case_number"] for w in waiting]
        return {
            "outcome": "ambiguous",
            "case_numbers": numbers,
            "reply": f"您有 {len(numbers)} 件诉求待评价（{'、'.join(numbers)}），"
            "请回复「受理编号 + 评价数字」，如「" + numbers[0] + " 1」。",
        }
    level = said.satisfaction
    try:
        state = await intake_of(request).rate(
            conn,
            waiting[0]["complaint_id"],
            level,
            RatedVia.SMS,
            said.comment,
            correlation_of(request),
        )
    except Problem as refused:
        if refused.status != 409:
            raise
        # Rated meanwhile (the link, another reply): the first rating of the round stands.
        return {"outcome": "nothing_to_rate", "reply": "本次办理结果已评价，感谢您的回复。"}
    return {
        "outcome": "recorded",
        # (named, so the resident's erasure blanks this kept answer: forget_answers_about)
        "complaint_id": str(state.complaint_id),
        "case_number": state.case_number,
        "satisfaction": level.value,
        "redo": state.status is ComplaintStatus.REDO,
        "reply": ratings.thanks(state.case_number, level, state.status is ComplaintStatus.REDO),
    }


# --- the signed one-time link ----------------------------------------------------------------


@router.post(
    "/ratings",
    dependencies=[PUBLIC],
    tags=[RESIDENTS],
    summary="居民凭一次性链接评价办理结果 Rate a result with the lookup's one-time link",
    description=(
        "令牌来自居民查询（受理编号 + 手机尾号）的 `rating`，每轮办理结果只能评价一次；评价不满意即重新交办。"
        " The token comes with the lookup's `rating`; each round's result is rated once; an"
        " unsatisfied rating sends the demand back to be handled again."
    ),
    responses={
        **problem(403, "链接无效（伪造或被改动）Not a valid link"),
        **problem(404, "诉求不存在 No such complaint"),
        **problem(409, "已评价，或链接属于上一轮办理 Rated already, or an earlier round's"),
        **problem(410, "链接已过期 The link has expired"),
        **problem(429, "过于频繁 Rate limited; see Retry-After"),
    },
    response_model=schemas.RatingRecorded,
)
async def rate_by_link(
    given: schemas.LinkRating, request: Request, correlation: Correlation
) -> JSONResponse:
    runtime = runtime_of(request)
    settings = runtime.settings
    await runtime.limiter.check(f"rating:{client_of(request)}", settings.lookup_rate_per_minute)
    now = commands.now()
    try:
        grant = ratings.verify(given.token, settings.rating_link_secret, now)
    except ratings.TokenExpired:
        raise Problem(410, "评价链接已过期，请重新查询后评价 The rating link has expired") from None
    except ratings.TokenRefused:
        raise Problem(403, "评价链接无效 Not a valid rating link", field="token") from None
    level = given.satisfaction
    async with runtime.pool.acquire() as conn, conn.transaction():
        state = await runtime.app.rate(
            conn,
            grant.complaint_id,
            level,
            RatedVia.LINK,
            given.comment,
            correlation,
            grant.resolution_round,
        )
    return answer(schemas.rating_recorded(state, level))


_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>评价办理结果 Rate the result</title>
<style>body{font-family:sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}
label{display:block;margin:.6rem 0;font-size:1.2rem}textarea{width:100%;height:5rem}
button{font-size:1.1rem;padding:.4rem 1.5rem}</style></head>
<body><h1>请您评价办理结果</h1><p>Please rate how your request was handled.</p>
<form id="rating">
<label><input type="radio" name="satisfaction" value="satisfied" required> 满意 Satisfied</label>
<label><input type="radio" name="satisfaction" value="basically_satisfied"> 基本满意 Mostly satisfied</label>
<label><input type="radio" name="satisfaction" value="unsatisfied"> 不满意 Not satisfied</label>
<textarea name="comment" maxlength="500" placeholder="意见（可选）Comments (optional)"></textarea>
<p><button>提交 Submit</button></p></form>
<p id="answer" role="status"></p>
<script>
const form = document.getElementById("rating"), answer = document.getElementById("answer");
const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const response = await fetch("ratings", {method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({token, satisfaction: data.get("satisfaction"),
                          comment: data.get("comment") || null})});
  const body = await response.json();
  answer.textContent = response.ok ? body.message : (body.detail || "提交失败 Failed");
  if (response.ok) form.hidden = true;
});
</script></body></html>
"""


@router.get(
    "/rate",
    dependencies=[PUBLIC],
    tags=[RESIDENTS],
    summary="评价页面（一次性链接打开的页面）The page a rating link opens",
    response_class=HTMLResponse,
)
async def rating_page() -> HTMLResponse:
    # The token is in the address's fragment, read by the page's script; no referrer either.
    return HTMLResponse(_PAGE, headers={"Referrer-Policy": "no-referrer"})
