"""Postgres plumbing: pools with JSON codecs, per-service databases and idempotent schema setup."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    # What store functions accept: a plain connection or one borrowed from a pool.
    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    Connection = asyncpg.Connection

# Two workers of one service may start at once; they must not race on CREATE TABLE.
SCHEMA_LOCK = 0x6A6965_5F736368

log = logging.getLogger(__name__)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name,
            encoder=lambda value: json.dumps(value, ensure_ascii=False),
            decoder=json.loads,
            schema="pg_catalog",
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A pooled connection keeps no session state: every SET, LISTEN, session advisory lock or
    cursor that must outlive a transaction is taken on a connection of its own (`connect`).
    So the reset asyncpg runs on every release by default (advisory unlock, CLOSE ALL, UNLISTEN,
    RESET ALL: about two statements of every five we sent) is skipped; asyncpg still rolls back
    a transaction left open before it calls this."""


def columns(rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """Rows as the column arrays a multi-row `INSERT … SELECT FROM unnest($1::t[], …)` takes:
    one statement for any number of rows, where `executemany` binds and executes each."""
    return [list(column) for column in zip(*rows, strict=True)]


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, wait_for_disk: bool = True
) -> asyncpg.Pool:
    """`wait_for_disk=False`: commits return before their WAL reaches the disk (for databases
    that hold only what can be rebuilt; see `wal_flushed` for what must then wait)."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=60,
        server_settings={} if wait_for_disk else {"synchronous_commit": "off"},
    )
    assert pool is not None
    return pool


async def wal_flushed(pool: asyncpg.Pool, poll_s: float = 0.02) -> None:
    """Return once every commit made before the call is on disk. With asynchronous commits a
    crash of the server loses the last few hundred milliseconds of commits (the WAL writer
    flushes them within three wal_writer_delay); whatever tells the outside world that work is
    done (a consumer's offsets) waits for this first."""
    async with pool.acquire() as conn:
        target = await conn.fetchval("SELECT pg_current_wal_insert_lsn()")
    while True:
        async with pool.acquire() as conn:
            if await conn.fetchval("SELECT pg_current_wal_flush_lsn() >= $1", target):
                return
        await asyncio.sleep(poll_s)


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn


def with_database(url: str, database: str) -> str:
    """The same server URL, pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def ensure_database(url: str) -> None:
    """Create the database `url` names when it is missing (connecting through `postgres`)."""
    name = database_name(url)
    conn = await asyncpg.connect(with_database(url, "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(url: str) -> None:
    name = database_name(url)
    conn = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def apply_schema(pool: asyncpg.Pool, *files: Path, attempts: int = 6) -> None:
    """Run idempotent DDL files in order, serialised across processes by an advisory lock.

    A process that starts while others of its service work can deadlock with them: its DDL
    takes table locks (even `IF NOT EXISTS` does) in the files' order, their transactions in
    theirs. Postgres then aborts one side; if it is this one, the DDL runs again."""
    texts = [file.read_text(encoding="utf-8") for file in files]
    for attempt in range(1, attempts + 1):
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
                for text in texts:
                    await conn.execute(text)
            return
        except asyncpg.DeadlockDetectedError:
            if attempt == attempts:
                raise
            log.warning("applying the schema deadlocked with a running transaction; again")
            await asyncio.sleep(0.05 * 2**attempt)
