"""The resident's own rating of a result: reading an SMS reply, and the signed one-time link.

Pure: no I/O. The routes that use these are services/intake/api/ratings.py and
services/intake/adapters/wechat.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from shared.events import Satisfaction, labels
from shared.privacy import narrow, redact_text

# --- an SMS reply ----------------------------------------------------------------------------

CASE_NUMBER_IN_TEXT = re.compile(r"JS-?(\d{8})-?(\d{6,})", re.IGNORECASE)
# Longest first: 不满意 and 基本满意 both end in 满意.
_WORDS = (
    ("不满意", Satisfaction.UNSATISFIED),
    ("基本满意", Satisfaction.BASICALLY_SATISFIED),
    ("满意", Satisfaction.SATISFIED),
)
# The numbers the result notice offers (services/notify/templates.yaml: complaint_resolved).
_DIGITS = {
    "1": Satisfaction.SATISFIED,
    "2": Satisfaction.BASICALLY_SATISFIED,
    "3": Satisfaction.UNSATISFIED,
}
_SEPARATORS = " \t\r\n,.;:!?，。；：！？、-—~～()（）[]【】"
COMMENT_LENGTH = 200


def thanks(case_number: str, level: Satisfaction, redone: bool) -> str:
    """What the resident is told once their rating is recorded (and the demand sent back)."""
    said = f"已收到您对诉求 {case_number} 的评价「{labels.SATISFACTION[level]}」，感谢您！"
    if redone:
        said += "我们已重新交办，将继续跟进。"
    elif level is Satisfaction.UNSATISFIED:
        # (a merged duplicate's resident: the case they follow is not redone on their word,
        # and nothing schedules a call, so nothing is promised)
        said += "您的评价已记录，将计入该诉求的满意度。"
    return said


@dataclass(frozen=True, slots=True)
class Reply:
    """What a reply says: the rating (None: not understood), the case it names, what else."""

    satisfaction: Satisfaction | None
    case_number: str | None = None
    comment: str | None = None


def parse_reply(text: str) -> Reply:
    """Read "1"/"2"/"3" or 满意/基本满意/不满意 at the start of a reply (full-width digits too),
    with a case number anywhere in it and anything after the rating kept as a comment.

    Only the start counts, and only a rating that ends there (the text's end or a separator),
    so "不太满意" is not read as 满意, nor "12", "1号楼路灯还是不亮" or "2楼漏水没修好" as a
    digit, nor "满意度很差" as 满意: a reply that does not begin with a rating is not
    understood rather than guessed.
    """
    plain = narrow(text)
    found = CASE_NUMBER_IN_TEXT.search(plain)
    case_number = f"JS-{found.group(1)}-{found.group(2)}" if found else None
    if found:
        plain = plain[: found.start()] + " " + plain[found.end() :]
    rest = plain.strip(_SEPARATORS)
    satisfaction: Satisfaction | None = None
    if rest[:1] in _DIGITS and _ends_there(rest, 1):
        satisfaction, rest = _DIGITS[rest[:1]], rest[1:]
    else:
        for word, level in _WORDS:
            if rest.startswith(word) and _ends_there(rest, len(word)):
                satisfaction, rest = level, rest[len(word) :]
                break
    comment = redact_text(rest.strip(_SEPARATORS))[:COMMENT_LENGTH] or None
    return Reply(satisfaction, case_number, comment if satisfaction else None)


def _ends_there(text: str, at: int) -> bool:
    return at >= len(text) or text[at] in _SEPARATORS


# --- the signed one-time link ----------------------------------------------------------------


class TokenRefused(Exception):
    """A rating token that is not ours (forged, altered, malformed)."""


class TokenExpired(TokenRefused):
    """A rating token of ours whose time has run out."""


@dataclass(frozen=True, slots=True)
class RatingGrant:
    """Who may rate what: the complaint, its resolution round (its redo count), until when."""

    complaint_id: UUID
    resolution_round: int
    expires_at: datetime


def _mac(payload: str, secret: str) -> str:
    # The purpose is part of what is signed: a MAC made with this secret for anything else
    # never passes for a rating token.
    digest = hmac.new(secret.encode(), f"rating-link:{payload}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def sign(grant: RatingGrant, secret: str) -> str:
    """`<complaint id>.<round>.<expiry, epoch seconds>.<HMAC-SHA256>`: nothing personal in it."""
    expires = int(grant.expires_at.timestamp())
    payload = f"{grant.complaint_id.hex}.{grant.resolution_round}.{expires}"
    return f"{payload}.{_mac(payload, secret)}"


def verify(token: str, secret: str, now: datetime) -> RatingGrant:
    """The grant a token carries, if this secret signed it and it has not expired.

    Single use is not the token's business: the complaint leaves "awaiting rating" once rated
    (and a redo starts a new round), so `domain.rate` refuses a second use of the same token.
    """
    payload, _, mac = token.rpartition(".")
    if not payload or not hmac.compare_digest(mac.encode(), _mac(payload, secret).encode()):
        raise TokenRefused(token)
    complaint, resolution_round, expires = payload.split(".")
    grant = RatingGrant(
        UUID(hex=complaint), int(resolution_round), datetime.fromtimestamp(int(expires), UTC)
    )
    if grant.expires_at <= now:
        raise TokenExpired(token)
    return grant
