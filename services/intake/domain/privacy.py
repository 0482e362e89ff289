"""Keeping residents' identities out of events: masking and pseudonyms (free text: shared.privacy)."""

from __future__ import annotations

import hashlib
import hmac
import re

from shared.privacy import redact_text

MOBILE_PATTERN = re.compile(r"^1[3-9]\d{9}$")


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


__all__ = ["mask_phone", "normalise_phone", "phone_tail", "redact_text", "resident_ref"]
