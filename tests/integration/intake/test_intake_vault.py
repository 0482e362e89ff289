"""Rotating the vault's master key loses no contact, and needs no contact decrypted."""

from __future__ import annotations

import os
import uuid

import asyncpg
import pytest

from services.intake import store
from services.intake.domain.commands import Contact
from services.intake.main import SCHEMA
from shared.db import apply_schema

pytestmark = pytest.mark.integration

OLD, NEW = os.urandom(32), os.urandom(32)


async def test_a_rotation_rewraps_every_key_and_every_contact_still_reads(pool: asyncpg.Pool):
    await apply_schema(pool, SCHEMA)
    filed = [
        (f"R-{i:020x}", uuid.uuid4(), Contact(name=f"居民{i}", phone=f"1370000{i:04d}"))
        for i in range(7)
    ]
    async with pool.acquire() as conn:
        await store.store_contacts(conn, [OLD], filed[:5])
        # intake restarted with the new key, the old still read: filings go on meanwhile
        await store.store_contacts(conn, [NEW, OLD], filed[5:])
        during = await store.read_contacts(conn, [NEW, OLD], [c for _, c, _ in filed])
        rewrapped = await store.rewrap_resident_keys(conn, [NEW, OLD], batch_size=2)
        again = await store.rewrap_resident_keys(conn, [NEW, OLD])
        after = await store.read_contacts(conn, [NEW], [c for _, c, _ in filed])
        with pytest.raises(store.VaultKeyMissing):
            await store.read_contacts(conn, [OLD], [filed[0][1]])
    expected = {complaint_id: contact for _, complaint_id, contact in filed}
    assert during == expected
    assert rewrapped == 5 and again == 0  # the two new residents' keys were already new
    assert after == expected
