"""Keeping residents' identities out of events: masking, pseudonyms and redaction of free text."""

from __future__ import annotations

import hashlib
import hmac
import re

MOBILE_PATTERN = re.compile(r"^1[3-9]\d{9}$")
# A mainland mobile number or an 18-character resident ID inside free text, possibly spaced
# or hyphenated the way people type them ("138 1234 5678", "138-1234-5678", "+86 138...").
_MOBILE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
_ID_IN_TEXT = re.compile(r"(?<![\dXx])(\d{6})(\d{8})(\d{3}[\dXx])(?![\dXx])")
_LANDLINE_IN_TEXT = re.compile(r"(?<!\d)(0\d{2,3})[\s-]?(\d{7,8})(?!\d)")


def normalise_phone(phone: str) -> str:
    digits = re.sub(r"[^\d]", "", phone)
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def phone_tail(phone: str) -> str:
    return normalise_phone(phone)[-4:]


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


def redact_text(text: str) -> str:
    """Mask phone and ID numbers a resident typed into the text before it becomes an event."""
    text = _ID_IN_TEXT.sub(lambda m: f"{m.group(1)[:3]}***********{m.group(3)[-3:]}", text)
    text = _MOBILE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return _LANDLINE_IN_TEXT.sub(lambda m: f"{m.group(1)}-****{m.group(2)[-4:]}", text)
