"""Sealed filings: what a resident said opens only under their words key, bound to its
complaint; a batch's keys come in one fetch; a key that is gone reads as redacted."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.envelope import Envelope, encode_data
from shared.events import (
    ComplaintCallbackRecorded,
    ComplaintFiled,
    ComplaintStatus,
    ResidentErased,
    parse_event_json,
)
from shared.privacy import REDACTED_TEXT
from shared.sealing import (
    SEALED_TEXT,
    Keyring,
    SealBroken,
    WordsKey,
    needs_sealing,
    open_envelopes,
    open_event,
    open_sealed,
    seal,
    seal_event,
)
from tests.support import examples

PLACE = "会仙山社区玫城丽都2号楼"


def a_key() -> WordsKey:
    return WordsKey.from_data_key(AESGCM.generate_key(bit_length=256))


def said(**overrides: object) -> ComplaintFiled:
    return examples.complaint_filed(
        latitude=36.55,
        longitude=116.8,
        attributes={"floor": "6", "note": "顶楼602漏雨"},
        media_urls=["https://img.example/leak.jpg"],
        **overrides,
    )


def test_a_sealed_filing_carries_no_words_or_exact_place_and_opens_to_what_was_said():
    key, filed = a_key(), said()
    sealed = seal_event(filed, key, PLACE)
    wire = encode_data(sealed).decode()
    escaped = json.dumps(json.loads(wire))  # as a JSON writer that escapes non-ASCII puts it
    for secret in (filed.text, filed.address, "顶楼602漏雨", "leak.jpg", "36.55"):
        assert secret not in wire and json.dumps(secret)[1:-1] not in escaped
    assert (sealed.text, sealed.address, sealed.latitude) == (SEALED_TEXT, PLACE, None)
    assert sealed.attributes == {} and sealed.media_urls == []
    # it travels as JSON and opens to the filing as it was said
    again = parse_event_json("ComplaintFiled", 1, wire)
    assert isinstance(again, ComplaintFiled)
    assert open_event(again, key) == filed


def test_a_filing_opens_under_no_other_key_and_a_key_that_is_gone_reads_as_redacted():
    key, filed = a_key(), said()
    sealed = seal_event(filed, key, PLACE)
    for gone in (None, a_key()):  # erased, or erased and filed again (a newer key)
        redacted = open_event(sealed, gone)
        assert redacted.text == REDACTED_TEXT and redacted.address == PLACE
        assert redacted.sealed is None and redacted.latitude is None
    # a key that names itself as the sealing one but is not: refused, not guessed at
    impostor = WordsKey(os.urandom(32), key.kid)
    with pytest.raises(SealBroken):
        open_event(sealed, impostor)


def test_a_sealed_value_changed_or_moved_to_another_complaint_does_not_open():
    key = a_key()
    complaint = uuid.uuid4()
    sealed = seal({"text": "楼道堆物"}, key, complaint.bytes)
    assert open_sealed(sealed, key, complaint.bytes) == {"text": "楼道堆物"}
    with pytest.raises(SealBroken):  # another complaint's associated data
        open_sealed(sealed, key, uuid.uuid4().bytes)
    raw = bytearray(base64.b64decode(sealed.ciphertext))
    raw[0] ^= 1
    tampered = sealed.model_copy(update={"ciphertext": base64.b64encode(raw).decode()})
    with pytest.raises(SealBroken):
        open_sealed(tampered, key, complaint.bytes)
    # the whole filing moved under another complaint's id
    filed = seal_event(said(), key, PLACE)
    with pytest.raises(SealBroken):
        open_event(filed.model_copy(update={"complaint_id": uuid.uuid4()}), key)
    # a callback's sealed comment put into the filing of the same complaint
    same = a_callback(filed.resident_ref, "雨后仍漏").model_copy(
        update={"complaint_id": filed.complaint_id}
    )
    with pytest.raises(SealBroken):
        open_event(filed.model_copy(update={"sealed": seal_event(same, key).sealed}), key)


def test_an_unsealed_filing_of_before_is_read_as_it_is():
    filed = said()
    assert open_event(filed, None) == filed


class Intake:
    """A fake of intake's key endpoint: its requests are recorded."""

    def __init__(self, keys: dict[str, bytes | None]) -> None:
        self.keys = keys
        self.requests: list[list[str]] = []

    async def __call__(self, residents: Sequence[str]) -> dict[str, bytes | None]:
        self.requests.append(list(residents))
        return {r: self.keys.get(r) for r in residents}


def envelope(event: object) -> Envelope:
    return Envelope(
        event=event,  # type: ignore[arg-type]
        id=uuid.uuid4(),
        source="/jiesu/intake",
        time=datetime.now(UTC),
        correlation_id=uuid.uuid4(),
    )


async def test_a_batch_fetches_its_keys_once_and_later_batches_use_the_held_ones():
    secrets = {f"R-{i:020x}": os.urandom(32) for i in range(3)}
    intake = Intake(dict(secrets))
    keyring = Keyring(intake)
    filings = [
        seal_event(said(resident_ref=r), WordsKey.of(s), PLACE)
        for r, s in secrets.items()
        for _ in range(4)
    ]
    opened = await open_envelopes([envelope(f) for f in filings], keyring)
    assert len(intake.requests) == 1 and sorted(intake.requests[0]) == sorted(secrets)
    assert all(e.event.text == said().text for e in opened)  # type: ignore[attr-defined]
    await open_envelopes([envelope(f) for f in filings], keyring)
    assert len(intake.requests) == 1  # held
    keyring.forget(filings[0].resident_ref)
    await open_envelopes([envelope(f) for f in filings], keyring)
    assert intake.requests[1] == [filings[0].resident_ref]


async def test_an_erased_residents_filings_come_back_redacted_and_others_open():
    erased, kept = "R-" + "e" * 20, "R-" + "k" * 20
    keys = {erased: os.urandom(32), kept: os.urandom(32)}
    gone = seal_event(said(resident_ref=erased), WordsKey.of(keys[erased]), PLACE)
    there = seal_event(said(resident_ref=kept), WordsKey.of(keys[kept]), PLACE)
    erasure = ResidentErased(resident_ref=erased, complaints=1, erased_at=datetime.now(UTC))
    intake = Intake({kept: keys[kept], erased: None})
    [a, b, c] = await open_envelopes(
        [envelope(gone), envelope(erasure), envelope(there)], Keyring(intake)
    )
    assert a.event.text == REDACTED_TEXT and a.event.address == PLACE  # type: ignore[attr-defined]
    assert b.event is erasure
    assert c.event.text == said().text  # type: ignore[attr-defined]


async def test_a_held_key_older_than_the_one_a_filing_names_is_fetched_again_once():
    resident = "R-" + "a" * 20
    old, new = os.urandom(32), os.urandom(32)
    intake = Intake({resident: old})
    keyring = Keyring(intake)
    await keyring.keys([resident])
    intake.keys[resident] = new  # erased (the cache did not hear of it yet), then filed again
    before = seal_event(said(resident_ref=resident), WordsKey.of(old), PLACE)
    after = seal_event(said(resident_ref=resident), WordsKey.of(new), PLACE)
    [x, y] = await open_envelopes([envelope(before), envelope(after)], keyring)
    assert len(intake.requests) == 2
    assert x.event.text == REDACTED_TEXT  # type: ignore[attr-defined]
    assert y.event.text == said().text  # type: ignore[attr-defined]


async def test_intake_out_of_reach_fails_the_batch():
    async def unreachable(residents: Sequence[str]) -> dict[str, bytes | None]:
        raise ConnectionError("intake is down")

    filed = seal_event(said(), a_key(), PLACE)
    with pytest.raises(ConnectionError):
        await open_envelopes([envelope(filed)], Keyring(unreachable))


async def test_the_keyring_holds_at_most_its_size_the_most_recently_used():
    intake = Intake({f"R-{i:020x}": os.urandom(32) for i in range(5)})
    keyring = Keyring(intake, most=2)
    await keyring.keys(["R-" + f"{0:020x}", "R-" + f"{1:020x}"])
    await keyring.keys(["R-" + f"{0:020x}"])
    await keyring.keys(["R-" + f"{2:020x}"])
    await keyring.keys(["R-" + f"{0:020x}", "R-" + f"{2:020x}"])
    assert len(intake.requests) == 2  # 0 and 2 held; 1 was the least recently used
    await keyring.keys(["R-" + f"{1:020x}"])
    assert intake.requests[-1] == ["R-" + f"{1:020x}"]


def a_callback(resident: str, comment: str | None) -> ComplaintCallbackRecorded:
    return ComplaintCallbackRecorded(
        complaint_id=uuid.uuid4(),
        status=ComplaintStatus.CALLED_BACK,
        contacted=True,
        resolved=True,
        satisfied=False,
        comment=comment,
        actor="staff:回访员",
        occurred_at=datetime.now(UTC),
        resident_ref=resident,
    )


async def test_a_callbacks_comment_is_sealed_like_a_filing_and_opens_in_the_same_batch():
    resident = "R-" + "c" * 20
    secret = os.urandom(32)
    callback = a_callback(resident, "雨后仍有渗水，楼上602的住户说")
    assert needs_sealing(callback) and not needs_sealing(a_callback(resident, None))
    sealed = seal_event(callback, WordsKey.of(secret))
    # (the door's words, not "602" alone: random ids and ciphertext may hold those digits)
    assert "602的住户" not in encode_data(sealed).decode() and sealed.comment == SEALED_TEXT
    assert not needs_sealing(sealed)
    intake = Intake({resident: secret})
    filed = seal_event(said(resident_ref=resident), WordsKey.of(secret), PLACE)
    opened = await open_envelopes([envelope(filed), envelope(sealed)], Keyring(intake))
    assert len(intake.requests) == 1  # one key for both of the resident's events
    assert opened[1].event == callback
    erased = await open_envelopes([envelope(sealed)], Keyring(Intake({resident: None})))
    assert erased[0].event.comment is None  # type: ignore[attr-defined]
