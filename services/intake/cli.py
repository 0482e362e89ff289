"""The contact vault's operator commands. Rotating the master key:

1. set INTAKE_VAULT_MASTER_KEY to the new key and put the old one in
   INTAKE_VAULT_PREVIOUS_MASTER_KEYS, and restart intake (contacts still read: each resident's
   data key is opened by whichever master key wrapped it; new ones are wrapped with the new);
2. `python -m services.intake.vault rotate` wraps every resident's data key with the new key
   (in batches, resumable; nothing is decrypted but the data keys);
3. remove the old key from INTAKE_VAULT_PREVIOUS_MASTER_KEYS.
"""

from __future__ import annotations

import argparse
import asyncio

from services.intake import store
from services.intake.settings import IntakeSettings
from shared.db import create_pool


async def rotate(settings: IntakeSettings) -> int:
    pool = await create_pool(settings.database_url, max_size=1)
    try:
        async with pool.acquire() as conn:
            return await store.rewrap_resident_keys(conn, settings.master_keys)
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="联系方式保险库 The contact vault")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("rotate", help="rewrap every resident's key with the current master key")
    parser.parse_args()
    count = asyncio.run(rotate(IntakeSettings()))
    print(f"rewrapped {count} resident keys with the current master key")


if __name__ == "__main__":
    main()
