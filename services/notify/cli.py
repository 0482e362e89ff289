"""Notify's operator commands. Run: python -m services.notify.cli COMMAND

python -m services.notify.cli dead-letters list [--channel sms] [--limit 100]
python -m services.notify.cli dead-letters redrive --all | --channel sms | NOTIFICATION_ID …

(API keys: python -m services.notify.auth create | list | revoke.)
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from services.notify import app, store
from services.notify.settings import NotifySettings
from shared.db import apply_schema, create_pool, ensure_database
from shared.eventstore import SCHEMA as EVENTSTORE_SCHEMA
from shared.eventstore import EventStore

PROG = "python -m services.notify.cli"


async def _dead_letters(args: argparse.Namespace) -> None:
    settings = NotifySettings()
    await ensure_database(settings.database_url)
    pool = await create_pool(settings.database_url, max_size=1)
    await apply_schema(pool, EVENTSTORE_SCHEMA, Path(__file__).with_name("schema.sql"))
    try:
        async with pool.acquire() as conn:
            if args.dead_letters == "list":
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


def dead_letters(args: argparse.Namespace) -> int:
    asyncio.run(_dead_letters(args))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog=PROG,
        description="通知服务的运维命令 Notify's operator commands.",
        epilog="API keys 密钥: jiesu keys notify create | list | revoke",
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    letters = commands.add_parser(
        "dead-letters",
        help="放弃发送的消息：列出、重发 messages given up on: list, redrive",
        description="放弃发送的消息 The messages notify gave up on.",
    )
    letters.set_defaults(run=dead_letters)
    actions = letters.add_subparsers(dest="dead_letters", required=True, metavar="list|redrive")
    listing = actions.add_parser(
        "list",
        help="列出死信 the dead letters, newest first",
        description="列出死信，最新在前 The dead letters, newest first.",
    )
    listing.add_argument("--channel", help="only this channel 仅此渠道 (sms, email, …)")
    listing.add_argument("--limit", type=int, default=100, help="at most 最多条数 (default 100)")
    again = actions.add_parser(
        "redrive",
        help="重发死信 send them again",
        description="重发死信（按各单位现在的通讯录） Send dead letters again (a unit kept for "
        "want of an address goes by the channels the directory names now).",
    )
    again.add_argument("ids", nargs="*", metavar="NOTIFICATION_ID", help="these 这些")
    again.add_argument("--channel", help="every one of this channel 此渠道全部")
    again.add_argument("--all", action="store_true", help="every one 全部")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
