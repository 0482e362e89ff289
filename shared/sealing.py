"""Crypto-shredding of what a filing says: its words and exact place are sealed (AES-256-GCM)
under a key of the resident's own before the event is stored or published, so destroying that
key (the resident's erasure) shreds every copy at once: event stores, topics, DLQs, backups.

The words key is derived from the resident's data key in intake's vault (HKDF-SHA256, a fixed
`info`): intake hands words keys to the services that read filings, and a words key does not
open the vault's contacts, which are sealed under the data key itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import ssl
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, TypeVar

import httpx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.consumer import DependencyUnavailable
from shared.envelope import Envelope
from shared.events import NO_RESIDENT, ComplaintCallbackRecorded, ComplaintFiled, Event, Sealed
from shared.privacy import REDACTED_TEXT

_WORDS_INFO = b"jiesu complaint words v1"
# What the clear fields of a sealed filing say (the public place stands for the address).
SEALED_TEXT = "（诉求内容已加密 sealed）"
# A key fetch names at most this many residents (intake's POST /residents/keys takes as many).
FETCH_MOST = 500

E = TypeVar("E", bound=Event)


class SealBroken(ValueError):
    """A sealed value does not open under the key it names: tampered with, or not ours."""


@dataclass(frozen=True, slots=True)
class WordsKey:
    """A resident's key for what they said, and its public fingerprint (`kid`), which a sealed
    value carries so that a reader can tell "the key is gone" from "the value is broken"."""

    secret: bytes
    kid: str

    @classmethod
    def of(cls, secret: bytes) -> WordsKey:
        digest = hashlib.sha256(b"jiesu words kid\x00" + secret).digest()[:9]
        return cls(secret, base64.urlsafe_b64encode(digest).decode())

    @classmethod
    def from_data_key(cls, data_key: bytes) -> WordsKey:
        derived = HKDF(hashes.SHA256(), length=32, salt=None, info=_WORDS_INFO).derive(data_key)
        return cls.of(derived)


def seal(fields: Mapping[str, Any], key: WordsKey, aad: bytes) -> Sealed:
    """`fields` (JSON values) sealed under `key`, bound to `aad` (the complaint id)."""
    nonce = os.urandom(12)
    plaintext = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
    ciphertext = AESGCM(key.secret).encrypt(nonce, plaintext, aad)
    return Sealed(
        kid=key.kid,
        nonce=base64.b64encode(nonce).decode(),
        ciphertext=base64.b64encode(ciphertext).decode(),
    )


def open_sealed(sealed: Sealed, key: WordsKey, aad: bytes) -> dict[str, Any]:
    """The fields `sealed` holds; SealBroken if `key` is not the one that sealed them or the
    value or its `aad` was changed."""
    if sealed.kid != key.kid:
        raise SealBroken(f"sealed under key {sealed.kid}, not {key.kid}")
    try:
        plaintext = AESGCM(key.secret).decrypt(
            base64.b64decode(sealed.nonce), base64.b64decode(sealed.ciphertext), aad
        )
    except (InvalidTag, ValueError) as error:
        raise SealBroken(f"sealed value does not open: {type(error).__name__}") from None
    opened: dict[str, Any] = json.loads(plaintext)
    return opened


# --- the events that carry a resident's words --------------------------------------------------

SEALED_FIELDS = (
    "text",
    "address",
    "latitude",
    "longitude",
    "attributes",
    "media_urls",
    "masked_phone",
)


@dataclass(frozen=True, slots=True)
class Sealing:
    """Which fields of an event type are the resident's, what they read while sealed (`cleared`:
    a placeholder, the public place), and what they read once the key is gone (`redacted`)."""

    fields: tuple[str, ...]
    cleared: Mapping[str, Any]
    redacted: Mapping[str, Any]


# A filing's words and exact place; a callback's or rating's comment (the resident's words, or
# what staff noted of them). Each carries `resident_ref` (whose key) and `sealed`.
SEALINGS: dict[type[Event], Sealing] = {
    ComplaintFiled: Sealing(
        SEALED_FIELDS,
        {
            "text": SEALED_TEXT,
            "latitude": None,
            "longitude": None,
            "attributes": {},
            "media_urls": [],
            "masked_phone": None,
        },
        # the address stays the public place it was sealed with
        {"text": REDACTED_TEXT, "masked_phone": None},
    ),
    ComplaintCallbackRecorded: Sealing(("comment",), {"comment": SEALED_TEXT}, {"comment": None}),
}


def needs_sealing(event: Event) -> bool:
    """An event of a sealed type with something of the resident's in it, not sealed yet (a
    matter no resident filed, 随手做, holds nobody's words)."""
    sealing = SEALINGS.get(type(event))
    return (
        sealing is not None
        and getattr(event, "sealed", None) is None
        and getattr(event, "resident_ref", None) not in (None, NO_RESIDENT)
        and any(getattr(event, name) not in (None, "", [], {}) for name in sealing.fields)
    )


def seal_event(event: E, key: WordsKey, public_place: str | None = None) -> E:
    """The event as stored and published: the resident's fields sealed under `key`, bound to
    the complaint; a filing's public place (to the building) stays in the clear."""
    sealing = SEALINGS[type(event)]
    fields = event.model_dump(mode="json", include=set(sealing.fields))
    cleared = dict(sealing.cleared)
    if isinstance(event, ComplaintFiled):
        cleared["address"] = public_place or ""
    return event.model_copy(update={"sealed": seal(fields, key, _bound_to(event)), **cleared})


def open_event(event: E, key: WordsKey | None) -> E:
    """The event as it was said; redacted when the resident's key is gone (`key` None, or a
    newer key than the one that sealed it). An event never sealed is returned as it is.
    SealBroken if the key is right and the value is not."""
    sealed: Sealed | None = getattr(event, "sealed", None)
    if sealed is None:
        return event
    if key is None or key.kid != sealed.kid:
        return redacted(event)
    sealing = SEALINGS[type(event)]
    fields = open_sealed(sealed, key, _bound_to(event))
    return type(event).model_validate(
        # (a field sealed values of before did not hold keeps what it read while sealed)
        {
            **event.model_dump(),
            **{n: fields[n] for n in sealing.fields if n in fields},
            "sealed": None,
        }
    )


def _bound_to(event: Event) -> bytes:
    """What a sealed value is bound to (its associated data): its complaint and its event type,
    so it opens neither in another complaint's event nor in another event of the same one."""
    complaint_id: uuid.UUID = event.complaint_id  # type: ignore[attr-defined]
    return complaint_id.bytes + event.event_type.encode()


def redacted(event: E) -> E:
    """The event with the resident's fields as an erasure leaves them."""
    return event.model_copy(update={"sealed": None, **SEALINGS[type(event)].redacted})


def is_sealed(event: object) -> bool:
    return type(event) in SEALINGS and getattr(event, "sealed", None) is not None


def sealed_residents(events: Iterable[object]) -> set[str]:
    """The residents whose keys open the sealed events among `events`."""
    return {e.resident_ref for e in events if is_sealed(e) and e.resident_ref}  # type: ignore[attr-defined]


# --- readers outside intake -------------------------------------------------------------------

# Residents' words keys from intake, in one request: ref → key, or None once erased.
FetchKeys = Callable[[Sequence[str]], Awaitable[Mapping[str, bytes | None]]]


@cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


class KeysUnavailable(DependencyUnavailable):
    """Intake did not give the keys: the batch that needed them fails whole and is fetched
    again (never dead-lettered), so nothing is projected from a filing left unopened."""


@dataclass(frozen=True, slots=True)
class IntakeKeys:
    """Where a reader asks for words keys: intake's POST /residents/keys, with a key of role
    `reporting`."""

    url: str
    api_key: str
    timeout_s: float = 10.0

    async def __call__(self, residents: Sequence[str]) -> dict[str, bytes | None]:
        try:
            # A client a request (nothing to close at shutdown); the TLS context is built once:
            # building it is most of a new client's cost (18 ms measured, 0.1 ms without).
            async with httpx.AsyncClient(timeout=self.timeout_s, verify=_tls()) as client:
                response = await client.post(
                    f"{self.url.rstrip('/')}/residents/keys",
                    json={"resident_refs": list(residents)},
                    headers={"X-API-Key": self.api_key},
                )
        except httpx.HTTPError as error:
            raise KeysUnavailable(f"intake keys: {type(error).__name__}: {error}") from None
        if response.status_code != 200:
            raise KeysUnavailable(f"intake keys: {response.status_code} {response.text[:300]}")
        keys: dict[str, str | None] = response.json()["keys"]
        return {ref: base64.b64decode(k) if k else None for ref, k in keys.items()}


class Keyring:
    """Words keys a reader has fetched, the most recently used `most` kept in memory (never
    written anywhere). Keys missing from it are fetched together: one request for a batch."""

    def __init__(self, fetch: FetchKeys, most: int = 10_000) -> None:
        self._fetch = fetch
        self._most = most
        self._keys: OrderedDict[str, WordsKey] = OrderedDict()

    async def keys(
        self, residents: Iterable[str], refresh: Iterable[str] = ()
    ) -> dict[str, WordsKey | None]:
        """Each resident's key (None: erased), fetching those not held and those in `refresh`."""
        wanted = list(dict.fromkeys(residents))
        again = set(refresh)
        missing = [r for r in wanted if r not in self._keys or r in again]
        for start in range(0, len(missing), FETCH_MOST):
            chunk = missing[start : start + FETCH_MOST]
            fetched = await self._fetch(chunk)
            for resident in chunk:
                secret = fetched.get(resident)
                if secret is None:
                    self._keys.pop(resident, None)  # not cached: a new filing makes a new key
                else:
                    self._keys[resident] = WordsKey.of(secret)
        found: dict[str, WordsKey | None] = {}
        for resident in wanted:
            key = self._keys.get(resident)
            if key is not None:
                self._keys.move_to_end(resident)
            found[resident] = key
        while len(self._keys) > self._most:
            self._keys.popitem(last=False)
        return found

    def forget(self, resident: str) -> None:
        """Drop a resident's key (on their erasure): it is not held a moment longer than needed."""
        self._keys.pop(resident, None)


async def open_envelopes(envelopes: Sequence[Envelope], keyring: Keyring) -> list[Envelope]:
    """The envelopes with their sealed events opened (redacted where the key is gone), their
    keys fetched in one request. A held key older than the one an event names (the resident
    was erased and filed again) is fetched again, once, with the others."""
    residents = sealed_residents(e.event for e in envelopes)
    if not residents:
        return list(envelopes)
    keys = await keyring.keys(residents)
    stale = {
        e.event.resident_ref  # type: ignore[attr-defined]
        for e in envelopes
        if is_sealed(e.event)
        and (held := keys.get(e.event.resident_ref)) is not None  # type: ignore[attr-defined]
        and held.kid != e.event.sealed.kid  # type: ignore[attr-defined]
    }
    if stale:
        keys.update(await keyring.keys(stale, refresh=stale))
    return [
        replace(e, event=open_event(e.event, keys.get(e.event.resident_ref)))  # type: ignore[attr-defined]
        if is_sealed(e.event)
        else e
        for e in envelopes
    ]
