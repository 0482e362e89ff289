"""The contact vault: each resident's contacts encrypted under their own data key, wrapped by
the master key; their words keys (what their filings are sealed with); the rotation of the
master key; and the erasure that destroys a resident's key (crypto-shredding)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from uuid import UUID

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.intake.domain.commands import Contact, NoticeContact
from shared.db import Connection, columns
from shared.sealing import WordsKey


async def store_contacts(
    conn: Connection, master_keys: Sequence[bytes], contacts: Sequence[tuple[str, UUID, Contact]]
) -> dict[str, WordsKey]:
    """Encrypt each (resident, complaint, contact) with the resident's data key, created on
    first use: two statements for any number of filings. `master_keys`: the current one
    first (new keys are wrapped with it), then earlier ones still read during a rotation.
    Returns each resident's words key (what their filings are sealed with)."""
    residents = sorted({resident for resident, _, _ in contacts})  # one lock order for all
    data_keys = await _data_keys(conn, master_keys, residents)
    sealed = []
    for resident, complaint_id, contact in contacts:
        data_key = data_keys[resident]
        nonce = os.urandom(12)
        plaintext = json.dumps(contact.model_dump(), ensure_ascii=False).encode()
        ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, complaint_id.bytes)
        sealed.append((complaint_id, resident, nonce, ciphertext))
    if sealed:
        await conn.execute(
            "INSERT INTO contacts (complaint_id, resident_ref, nonce, ciphertext) "
            "SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::bytea[])",
            *columns(sealed),
        )
    return {resident: WordsKey.from_data_key(key) for resident, key in data_keys.items()}


async def _data_keys(
    conn: Connection, master_keys: Sequence[bytes], residents: list[str]
) -> dict[str, bytes]:
    """Each resident's data key (`residents` sorted), created on first use, the residents
    locked against their erasure until the transaction ends."""
    master_key = master_keys[0]
    await lock_residents(conn, residents)
    # A candidate key for every resident: the statement keeps the stored one where there is
    # one (its select does not see the rows its insert adds; the insert adds nothing then).
    candidates = [
        _wrapped(master_key, resident, AESGCM.generate_key(bit_length=256))
        for resident in residents
    ]
    rows = await conn.fetch(
        """
        WITH input AS (
            SELECT * FROM unnest($1::text[], $2::bytea[]) AS t(resident_ref, candidate)
        ), added AS (
            INSERT INTO resident_keys (resident_ref, wrapped_key)
            SELECT resident_ref, candidate FROM input
            ON CONFLICT (resident_ref) DO NOTHING RETURNING resident_ref, wrapped_key
        )
        SELECT i.resident_ref, coalesce(a.wrapped_key, k.wrapped_key) AS wrapped_key
        FROM input i LEFT JOIN added a USING (resident_ref) LEFT JOIN resident_keys k USING (resident_ref)
        """,
        residents,
        candidates,
    )
    wrapped = {row["resident_ref"]: row["wrapped_key"] for row in rows}
    missing = [resident for resident in residents if wrapped.get(resident) is None]
    if missing:  # another transaction added them meanwhile: it has committed by now
        rows = await conn.fetch(
            "SELECT resident_ref, wrapped_key FROM resident_keys WHERE resident_ref = ANY($1::text[])",
            missing,
        )
        wrapped.update((row["resident_ref"], row["wrapped_key"]) for row in rows)
    return {resident: _unwrap(master_keys, resident, wrapped[resident]) for resident in residents}


async def words_keys(
    conn: Connection, master_keys: Sequence[bytes], residents: Iterable[str]
) -> dict[str, WordsKey | None]:
    """Each resident's words key, in one query; None for a resident whose key was destroyed
    (erased) or who never had one."""
    wanted = list(dict.fromkeys(residents))
    rows = await conn.fetch(
        "SELECT resident_ref, wrapped_key FROM resident_keys WHERE resident_ref = ANY($1::text[])",
        wanted,
    )
    found = {
        row["resident_ref"]: WordsKey.from_data_key(
            _unwrap(master_keys, row["resident_ref"], row["wrapped_key"])
        )
        for row in rows
    }
    return {resident: found.get(resident) for resident in wanted}


def _wrapped(master_key: bytes, resident: str, data_key: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(master_key).encrypt(nonce, data_key, resident.encode())


def _unwrap(master_keys: Sequence[bytes], resident: str, wrapped: bytes) -> bytes:
    """The resident's data key, unwrapped by whichever master key wrapped it."""
    for master_key in master_keys:
        try:
            return AESGCM(master_key).decrypt(wrapped[:12], wrapped[12:], resident.encode())
        except InvalidTag:
            continue
    raise VaultKeyMissing(f"no configured master key opens the data key of {resident}")


class VaultKeyMissing(RuntimeError):
    """A resident's data key was wrapped by a master key that is no longer configured."""


async def count_resident_keys(conn: Connection) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM resident_keys")
    return count


async def rewrap_resident_keys(
    conn: Connection,
    master_keys: Sequence[bytes],
    batch_size: int = 1000,
    advance: Callable[[int], None] = lambda _: None,
) -> int:
    """Wrap every resident's data key with the current master key (a rotation); returns how
    many were rewrapped. Idempotent and resumable: a key already under the current master is
    left as it is. A key no configured master opens stops it (VaultKeyMissing): nothing lost.
    `advance` hears how many keys each batch went through (a progress bar's step)."""
    current, rewrapped, after = master_keys[0], 0, ""
    while True:
        rows = await conn.fetch(
            "SELECT resident_ref, wrapped_key FROM resident_keys WHERE resident_ref > $1 "
            "ORDER BY resident_ref LIMIT $2",
            after,
            batch_size,
        )
        if not rows:
            return rewrapped
        changed = []
        for row in rows:
            resident, wrapped = row["resident_ref"], row["wrapped_key"]
            data_key = _unwrap(master_keys, resident, wrapped)
            try:
                AESGCM(current).decrypt(wrapped[:12], wrapped[12:], resident.encode())
            except InvalidTag:
                changed.append((resident, _wrapped(current, resident, data_key)))
        if changed:
            await conn.execute(
                "UPDATE resident_keys k SET wrapped_key = c.wrapped_key "
                "FROM unnest($1::text[], $2::bytea[]) AS c(resident_ref, wrapped_key) "
                "WHERE k.resident_ref = c.resident_ref",
                *columns(changed),
            )
        rewrapped += len(changed)
        after = rows[-1]["resident_ref"]
        advance(len(rows))


class ContactErased(LookupError):
    """The resident's key was destroyed: the contact can no longer be read (PIPL erasure)."""


async def read_contact(
    conn: Connection, master_keys: Sequence[bytes], complaint_id: UUID
) -> Contact | None:
    found = (await read_contacts(conn, master_keys, [complaint_id])).get(complaint_id)
    if isinstance(found, ContactErased):
        raise found
    return found


async def read_contacts(
    conn: Connection, master_keys: Sequence[bytes], complaint_ids: Sequence[UUID]
) -> dict[UUID, Contact | ContactErased]:
    """The contacts of several complaints in one query: each decrypted, or ContactErased for
    those whose resident's key was destroyed; complaints without a contact are left out."""
    rows = await conn.fetch(
        "SELECT c.complaint_id, c.nonce, c.ciphertext, c.resident_ref, k.wrapped_key "
        "FROM contacts c LEFT JOIN resident_keys k USING (resident_ref) "
        "WHERE c.complaint_id = ANY($1::uuid[])",
        list(complaint_ids),
    )
    return {row["complaint_id"]: _decrypt(master_keys, row) for row in rows}


def _decrypt(master_keys: Sequence[bytes], row: asyncpg.Record) -> Contact | ContactErased:
    complaint_id: UUID = row["complaint_id"]
    wrapped = row["wrapped_key"]
    if wrapped is None:
        return ContactErased(complaint_id)
    data_key = _unwrap(master_keys, row["resident_ref"], wrapped)
    try:
        plaintext = AESGCM(data_key).decrypt(row["nonce"], row["ciphertext"], complaint_id.bytes)
    except InvalidTag:
        return ContactErased(complaint_id)
    return Contact.model_validate_json(plaintext)


async def lock_residents(conn: Connection, residents: Sequence[str]) -> None:
    """Filing and erasure of one resident one after the other (until the transaction ends):
    a filing still open when the erasure destroys the key would otherwise commit after it,
    sealed under the destroyed key yet in the clear in the view, and no ComplaintRedacted
    would ever reach it. `residents` sorted, so two filings never lock each other crosswise."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('resident:' || r, 0)) "
        "FROM (SELECT r FROM unnest($1::text[]) AS r ORDER BY r) AS sorted",
        list(residents),
    )


async def erase_resident(conn: Connection, resident: str) -> int:
    """Destroy the resident's data key; returns how many contacts became unreadable. Waits for
    the resident's filings still open (lock_residents), so the complaints read after it are
    all there are."""
    await lock_residents(conn, [resident])
    await conn.execute("DELETE FROM resident_keys WHERE resident_ref = $1", resident)
    # Their consents to area notices go with it (ResidentErased tells notify the same).
    await conn.execute("DELETE FROM notice_consents WHERE resident_ref = $1", resident)
    count: int = await conn.fetchval(
        "SELECT count(*) FROM contacts WHERE resident_ref = $1", resident
    )
    return count


# --- a resident's contact for area notices -----------------------------------------------------


async def store_notice_contact(
    conn: Connection, master_keys: Sequence[bytes], resident: str, contact: NoticeContact
) -> None:
    """The resident's contact for notices, sealed under their data key (the one their
    complaints' contacts are under: an erasure makes both unreadable); a newer one replaces it."""
    data_key = (await _data_keys(conn, master_keys, [resident]))[resident]
    nonce = os.urandom(12)
    plaintext = json.dumps(contact.model_dump(), ensure_ascii=False).encode()
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, _notice_aad(resident))
    await conn.execute(
        "INSERT INTO notice_contacts (resident_ref, nonce, ciphertext) VALUES ($1, $2, $3) "
        "ON CONFLICT (resident_ref) DO UPDATE SET nonce = excluded.nonce, "
        "ciphertext = excluded.ciphertext, updated_at = now()",
        resident,
        nonce,
        ciphertext,
    )


def _notice_aad(resident: str) -> bytes:
    return f"notice:{resident}".encode()


async def read_notice_contacts(
    conn: Connection, master_keys: Sequence[bytes], residents: Sequence[str]
) -> dict[str, NoticeContact | ContactErased]:
    """Residents' contacts for notices in one query: each decrypted, or ContactErased for those
    whose key was destroyed; residents without one are left out."""
    rows = await conn.fetch(
        "SELECT c.resident_ref, c.nonce, c.ciphertext, k.wrapped_key "
        "FROM notice_contacts c LEFT JOIN resident_keys k USING (resident_ref) "
        "WHERE c.resident_ref = ANY($1::text[])",
        list(residents),
    )
    found: dict[str, NoticeContact | ContactErased] = {}
    for row in rows:
        resident = row["resident_ref"]
        if row["wrapped_key"] is None:
            found[resident] = ContactErased(resident)
            continue
        data_key = _unwrap(master_keys, resident, row["wrapped_key"])
        try:
            plaintext = AESGCM(data_key).decrypt(
                row["nonce"], row["ciphertext"], _notice_aad(resident)
            )
        except InvalidTag:
            found[resident] = ContactErased(resident)
            continue
        found[resident] = NoticeContact.model_validate_json(plaintext)
    return found
