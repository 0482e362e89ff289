"""The dead-letter list of messages notify gave up on, for operators.

Run: python -m services.notify.cli list [--channel sms]
     python -m services.notify.cli redrive --all | --channel sms | NOTIFICATION_ID …
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
from pathlib import Path
from uuid import UUID

from services.notify import app, store
from services.notify.settings import NotifySettings
from shared.db import apply_schema, create_pool, ensure_database
from shared.eventstore import SCHEMA as EVENTSTORE_SCHEMA
from shared.eventstore import EventStore


async def _run(args: argparse.Namespace) -> None:
    settings = NotifySettings()
    await ensure_database(settings.database_url)
    pool = await create_pool(settings.database_url, max_size=1)
    await apply_schema(pool, EVENTSTORE_SCHEMA, Path(__file__).with_name("schema.sql"))
    try:
        async with pool.acquire() as conn:
            if args.command == "list":
                rows = await store.dead_letters(conn, args.channel, args.limit, 0)
                for row in rows:
                    print(
                        f"{row['notification_id']}\t{row['channel']}\t{row['recipient']}\t"
                        f"{row['template']}\t{row['attempts']}\t{row['updated_at']:%Y-%m-%d %H:%M}\t"
                        f"{row['last_error'] or ''}"
                    )
                print(f"{len(rows)} 条死信 dead letters")
                return
            if not (args.all or args.channel or args.ids):
                raise SystemExit("redrive: name NOTIFICATION_IDs, --channel or --all")
            async with conn.transaction():
                count = await app.redrive(
                    conn,
                    EventStore(f"/jiesu/{settings.service_name}"),
                    [UUID(i) for i in args.ids] or None,
                    args.channel,
                    f"cli:{getpass.getuser()}",
                )
            print(f"redriven: {count}")
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list")
    listing.add_argument("--channel")
    listing.add_argument("--limit", type=int, default=100)
    again = commands.add_parser("redrive")
    again.add_argument("ids", nargs="*")
    again.add_argument("--channel")
    again.add_argument("--all", action="store_true")
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
