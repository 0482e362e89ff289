"""Intake's SQL: idempotency keys, case numbers and the encrypted contact vault."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.intake.domain import Contact
from shared.db import Connection


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_hash: str
    status_code: int
    response: dict[str, Any]


async def claim_idempotency_key(
    conn: Connection, key: str, request_hash: str
) -> StoredResponse | None:
    """Claim `key` inside the caller's transaction; return the earlier answer if it was used.

    A concurrent request with the same key blocks on the primary key until the first commits,
    then sees its answer: one complaint, however many retries.
    """
    claimed = await conn.fetchval(
        "INSERT INTO idempotency_keys (key, request_hash, status_code, response) "
        "VALUES ($1, $2, 0, '{}') ON CONFLICT (key) DO NOTHING RETURNING true",
        key,
        request_hash,
    )
    if claimed:
        return None
    row = await conn.fetchrow(
        "SELECT request_hash, status_code, response FROM idempotency_keys WHERE key = $1", key
    )
    assert row is not None  # the conflicting row committed before our insert gave up
    return StoredResponse(row["request_hash"], row["status_code"], row["response"])


async def record_response(
    conn: Connection, key: str, status_code: int, response: dict[str, Any]
) -> None:
    await conn.execute(
        "UPDATE idempotency_keys SET status_code = $2, response = $3 WHERE key = $1",
        key,
        status_code,
        response,
    )


async def next_case_sequence(conn: Connection) -> int:
    value: int = await conn.fetchval("SELECT nextval('case_number_seq')")
    return value


async def store_contact(
    conn: Connection,
    master_key: bytes,
    resident: str,
    complaint_id: UUID,
    contact: Contact,
) -> None:
    """Encrypt the contact with the resident's data key (created on first use)."""
    wrapped = await conn.fetchval(
        "SELECT wrapped_key FROM resident_keys WHERE resident_ref = $1", resident
    )
    if wrapped is None:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        candidate = nonce + AESGCM(master_key).encrypt(nonce, data_key, resident.encode())
        wrapped = await conn.fetchval(
            "INSERT INTO resident_keys (resident_ref, wrapped_key) VALUES ($1, $2) "
            "ON CONFLICT (resident_ref) DO UPDATE SET resident_ref = EXCLUDED.resident_ref "
            "RETURNING wrapped_key",
            resident,
            candidate,
        )
    data_key = AESGCM(master_key).decrypt(wrapped[:12], wrapped[12:], resident.encode())
    nonce = os.urandom(12)
    plaintext = json.dumps(contact.model_dump(), ensure_ascii=False).encode()
    await conn.execute(
        "INSERT INTO contacts (complaint_id, resident_ref, nonce, ciphertext) "
        "VALUES ($1, $2, $3, $4)",
        complaint_id,
        resident,
        nonce,
        AESGCM(data_key).encrypt(nonce, plaintext, complaint_id.bytes),
    )
