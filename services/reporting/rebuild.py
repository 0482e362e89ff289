"""Rebuild read models from the event stores (never from Kafka's retention). Operators run it
as `python -m services.reporting.cli replay rebuild` (cli.py); at start the service rebuilds a
model whose shape changed (workers.py).

A rebuild fills fresh tables in a schema of its own while the service keeps serving and
consuming; then, holding the live tables' locks, it applies what the stores gained meanwhile and
swaps the new tables in, in one transaction. Because every projection is a commuting upsert
(upsert.py), a batch's writes run grouped by statement, and events the live consumer applies
twice come to the same rows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from services.reporting.projections import MODELS, SCHEMA_DIR, Model, project
from services.reporting.settings import ReportingSettings
from services.reporting.store import Grouped, column_types, group, write
from services.reporting.upsert import JSON_TYPES
from shared.collector import tune_collector
from shared.db import Connection, connect
from shared.events import UnknownEventType, wire_types
from shared.eventstore import ENVELOPE_COLUMNS, Horizon, envelope_of
from shared.sealing import IntakeKeys, Keyring, open_envelopes

REBUILD_LOCK = 0x6A6965_7265706C  # "jie" "repl"
# A rebuild's processes run the collector's young pass after this many net allocations:
# more than the batches in flight keep alive (about 20 objects an event, batches of 5,000),
# so that the pass does not scan them again and again. One worker's 198,791 events spent
# 0.96 s of CPU in young passes at the services' 50,000 and 0.11 s at 200,000.
YOUNG_GC = 200_000
Advance = Callable[[int], None]


class RebuildRunning(Exception):
    pass


@dataclass
class Rebuilt:
    models: list[str]
    events: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


@dataclass(frozen=True, slots=True)
class Slice:
    """Which of a store's events a reader takes: up to `until` (inclusive), and of the
    complaints, those whose hash falls in part `part` of `parts` (a complaint's events, and the
    rows they build, stay with one reader)."""

    until: int | None = None
    part: int = 0
    parts: int = 1

    def where(self) -> str:
        clauses = []
        if self.until is not None:
            clauses.append(f"global_position <= {int(self.until)}")
        if self.parts > 1:
            # Said as "not one of the other parts": the planner cannot estimate the hash and
            # takes an equality to match one row in 200, so with a batch's LIMIT it planned a
            # whole scan and sort (0.6 s a batch at 400,000 events, until a generic plan came
            # at the sixth); an inequality it takes to match most rows, and reads the index.
            key = f"abs(hashtext(coalesce(metadata->>'subject', stream)) % {int(self.parts)})"
            others = ", ".join(str(p) for p in range(self.parts) if p != self.part)
            clauses.append(f"{key} NOT IN ({others})")
        return "".join(f" AND {c}" for c in clauses)


EVERYTHING = Slice()


async def _read(conn: Connection, after: int, limit: int, part: Slice) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {ENVELOPE_COLUMNS} FROM events WHERE global_position > $1{part.where()} "
        "ORDER BY global_position LIMIT $2",
        after,
        limit,
    )
    return rows


async def _batches(
    conn: Connection, after: int, size: int, part: Slice = EVERYTHING
) -> AsyncIterator[list[asyncpg.Record]]:
    """A store's events in commit order, reading the next batch while the last one is written."""
    pending = asyncio.ensure_future(_read(conn, after, size, part))
    while True:
        batch = await pending
        if not batch:
            return
        pending = asyncio.ensure_future(_read(conn, batch[-1]["global_position"], size, part))
        yield batch


async def _writes(
    batch: Sequence[asyncpg.Record], models: Mapping[str, Model], keyring: Keyring
) -> Grouped:
    """A batch's writes, its sealed filings opened first (their keys in one request)."""
    types = {name for model in models.values() for t in model.projections for name in wire_types(t)}
    envelopes = []
    for row in batch:
        if row["type"] not in types:
            continue  # skipped unparsed
        try:
            envelopes.append(envelope_of(row))
        except UnknownEventType:
            continue
    grouped: Grouped = {}
    for envelope in await open_envelopes(envelopes, keyring):
        group(project(envelope, models), grouped)
    return grouped


async def _apply(conn: Connection, grouped: Grouped, copied: frozenset[str]) -> None:
    for attempt in range(5):
        try:
            async with conn.transaction():
                await _fill(conn, grouped, copied)
            return
        except asyncpg.DeadlockDetectedError:  # in place, beside the live consumer: try again
            if attempt == 4:
                raise
            await asyncio.sleep(0.1 * (attempt + 1))


async def _fill(conn: Connection, grouped: Grouped, copied: frozenset[str]) -> None:
    """A batch's rows: those of the `copied` tables (fresh ones, whose every row is one
    event's) by COPY, which looks for no conflict (half the database's work and of the
    encoding's); the others upserted. Should a copied row be there already (an event read
    twice), the COPY's savepoint rolls back and those rows are upserted instead."""
    upserted: Grouped = {}
    for layout, rows in grouped.items():
        if layout.table in copied and layout.once_only:
            types = await column_types(conn, layout.table, layout.columns)
            if not any(types[column] in JSON_TYPES for column in layout.columns):
                try:
                    async with conn.transaction():
                        await conn.copy_records_to_table(
                            layout.table, records=layout.full(rows.values()), columns=layout.columns
                        )
                    continue
                except asyncpg.UniqueViolationError:
                    pass
        upserted[layout] = rows
    await write(conn, upserted)


async def _heads(sources: Mapping[str, Connection]) -> dict[str, int]:
    return {
        name: int(await conn.fetchval("SELECT count(*) FROM events"))
        for name, conn in sources.items()
    }


async def _drain(
    sources: Mapping[str, Connection],
    target: Connection,
    models: Mapping[str, Model],
    after: dict[str, int],
    batch_size: int,
    advance: Advance,
    keyring: Keyring,
    slices: Mapping[str, Slice] | None = None,
    copied: frozenset[str] = frozenset(),
) -> int:
    """Every source's events applied to `target`. Reading and projecting the next batch (Python)
    runs while the database writes the last one. The rows of `copied` tables go in by COPY."""
    queue: asyncio.Queue[tuple[str, int, int, Grouped] | None] = asyncio.Queue(2)

    async def produce() -> None:
        try:
            for name, conn in sources.items():
                part = (slices or {}).get(name, EVERYTHING)
                async for batch in _batches(conn, after[name], batch_size, part):
                    grouped = await _writes(batch, models, keyring)
                    await queue.put((name, batch[-1]["global_position"], len(batch), grouped))
        except Exception:
            # The writer stops at the end mark and meets this error in `await producer`:
            # without the mark it would wait on the queue for ever (intake out of reach for
            # the keys hung the rebuild so).
            await queue.put(None)
            raise
        await queue.put(None)

    producer = asyncio.create_task(produce())
    events = 0
    try:
        while (item := await queue.get()) is not None:
            name, position, count, grouped = item
            await _apply(target, grouped, copied)
            after[name] = position
            events += count
            advance(count)
    finally:
        if not producer.done():
            producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)
    await producer  # a reader's error is the rebuild's error
    return events


def _appended(models: Mapping[str, Model]) -> frozenset[str]:
    """The tables a rebuild into fresh tables may copy rows into (see `_fill`)."""
    return frozenset(table for model in models.values() for table in model.appended)


def _statements(model: Model) -> tuple[list[str], list[str]]:
    """A model's DDL split into tables first and secondary indexes after (built once, on the
    filled tables, rather than kept up row by row)."""
    lines = model.schema.read_text(encoding="utf-8").splitlines()
    text = "\n".join(line.split("--", 1)[0] for line in lines)  # (no literal in our DDL has --)
    statements = [s.strip() for s in text.split(";") if s.strip()]
    indexes = [s for s in statements if s.upper().startswith("CREATE INDEX")]
    return [s for s in statements if s not in indexes], indexes


async def _create(target: Connection, schema: str, models: Mapping[str, Model]) -> None:
    await target.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    await target.execute(f'SET search_path TO "{schema}"')
    for model in models.values():
        for statement in _statements(model)[0]:
            await target.execute(statement)


async def _index(target: Connection, models: Mapping[str, Model]) -> None:
    for model in models.values():
        for statement in _statements(model)[1]:
            await target.execute(statement)


async def rebuild(
    reporting_url: str,
    store_urls: Mapping[str, str],
    names: Sequence[str],
    *,
    batch_size: int = 5000,
    in_place: bool = False,
    workers: int = 1,
    on_total: Callable[[int], None] = lambda total: None,
    advance: Advance = lambda n: None,
    keys: IntakeKeys,
) -> Rebuilt:
    """Rebuild `names` from the stores. `in_place` fills the live tables as they are (used when
    a model's tables were just created empty); otherwise new tables are swapped in at the end.
    `workers` processes share the complaints between them (the projections are Python-bound).
    Sealed filings are opened with words keys from intake (`keys`), one request a batch."""
    models = {name: MODELS[name] for name in names}
    keyring = Keyring(keys)
    started = time.perf_counter()
    result = Rebuilt(models=list(models))
    target = await connect(reporting_url)
    sources = {name: await connect(url) for name, url in store_urls.items()}
    schema = "public" if in_place else f"rebuild_{os.getpid()}"
    try:
        # One rebuild at a time (held until this connection closes, even if the process dies).
        if not await target.fetchval("SELECT pg_try_advisory_lock($1)", REBUILD_LOCK):
            raise RebuildRunning("已有重建在进行 another rebuild of these read models is running")
        # What a rebuild killed before its swap left behind (nobody else holds the lock).
        for (stale,) in await target.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rebuild\\_%'"
        ):
            await target.execute(f'DROP SCHEMA IF EXISTS "{stale}" CASCADE')
        await target.execute((SCHEMA_DIR / "models.sql").read_text(encoding="utf-8"))
        heads = await _heads(sources)
        on_total(sum(heads.values()))
        if in_place:
            await target.execute("SET search_path TO public")
        else:
            await _create(target, schema, models)
            # The new tables are rebuilt again if the machine fails: no need to wait for each
            # batch's commit to reach the disk (the swap itself commits durably).
            await target.execute("SET synchronous_commit = off")
        # Each store up to what had committed by now, and nothing past a position that a
        # transaction still open may commit later (the catch-up at the swap reads on from it).
        tops = {name: await Horizon().reach(conn) for name, conn in sources.items()}
        if workers > 1:
            urls = {"reporting": reporting_url, **store_urls}
            job = _Job(urls, schema, list(models), tops, batch_size, keys, fresh=not in_place)
            result.events = await _parallel(job, workers, advance)
        else:
            slices = {name: Slice(until=top) for name, top in tops.items()}
            result.events = await _drain(
                sources,
                target,
                models,
                dict.fromkeys(sources, 0),
                batch_size,
                advance,
                keyring,
                slices,
                frozenset() if in_place else _appended(models),
            )
        after = dict(tops)
        if not in_place:
            await _index(target, models)
            await target.execute("SET synchronous_commit = on")
            result.events += await _swap(
                target, sources, schema, models, after, batch_size, advance, keyring
            )
        result.seconds = time.perf_counter() - started
        await target.execute("SET search_path TO public")
        async with target.transaction():  # every rebuilt model is recorded at once
            await target.executemany(
                """
                INSERT INTO read_models (name, version, rebuilt_at, events, seconds)
                VALUES ($1, $2, now(), $3, $4)
                ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version,
                    rebuilt_at = EXCLUDED.rebuilt_at, events = EXCLUDED.events,
                    seconds = EXCLUDED.seconds
                """,
                [(m.name, m.version, result.events, result.seconds) for m in models.values()],
            )
    finally:
        if not in_place:
            await target.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await target.close()
        for conn in sources.values():
            await conn.close()
    return result


async def _swap(
    target: Connection,
    sources: Mapping[str, Connection],
    schema: str,
    models: Mapping[str, Model],
    after: dict[str, int],
    batch_size: int,
    advance: Advance,
    keyring: Keyring,
) -> int:
    """Catch up and swap, with the live tables locked: the live consumer waits (and retries)."""
    tables = [table for model in models.values() for table in model.tables]
    await target.execute("SET search_path TO public")
    async with target.transaction():
        existing = [
            t
            for t in tables
            if await target.fetchval("SELECT to_regclass($1) IS NOT NULL", f"public.{t}")
        ]
        if existing:
            await target.execute(
                f"LOCK TABLE {', '.join(f'public.{t}' for t in existing)} IN ACCESS EXCLUSIVE MODE"
            )
        await target.execute(f'SET LOCAL search_path TO "{schema}"')
        caught_up = 0
        for name, conn in sources.items():
            # Whatever the live consumer applied before the lock had committed by now: it is
            # at or below the horizon reached here.
            until = Slice(until=await Horizon().reach(conn))
            async for batch in _batches(conn, after[name], batch_size, until):
                await write(target, await _writes(batch, models, keyring))
                after[name] = batch[-1]["global_position"]
                caught_up += len(batch)
                advance(len(batch))
        for table in tables:
            await target.execute(f"DROP TABLE IF EXISTS public.{table} CASCADE")
            await target.execute(f'ALTER TABLE "{schema}".{table} SET SCHEMA public')
    return caught_up


@dataclass(frozen=True, slots=True)
class _Job:
    urls: Mapping[str, str]  # reporting and each store
    schema: str
    models: list[str]
    tops: Mapping[str, int]  # each store's last position when the rebuild began
    batch_size: int
    keys: IntakeKeys
    fresh: bool  # the tables are the rebuild's own (new, nobody else writes them)


async def _parallel(job: _Job, workers: int, advance: Advance) -> int:
    """`workers` processes, each projecting its share of the complaints into the new tables."""
    env = {
        **os.environ,
        "REPORTING_DATABASE_URL": job.urls["reporting"],
        **{
            f"REPORTING_{name.upper()}_STORE_URL": url
            for name, url in job.urls.items()
            if name != "reporting"
        },
        "REPORTING_INTAKE_URL": job.keys.url,
        "REPORTING_INTAKE_KEY": job.keys.api_key,
    }
    args = [
        "--into",
        job.schema,
        "--until",
        json.dumps(dict(job.tops)),
        "--batch",
        str(job.batch_size),
        *(["--fresh"] if job.fresh else []),
    ]
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.reporting.rebuild",
            f"{part}/{workers}",
            *args,
            *job.models,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for part in range(workers)
    ]

    async def follow(process: asyncio.subprocess.Process) -> int:
        assert process.stdout is not None and process.stderr is not None
        done = 0
        async for line in process.stdout:
            if line.startswith(b"progress "):
                count = int(line.split()[1])
                done += count
                advance(count)
        errors = await process.stderr.read()
        if await process.wait() != 0:
            raise RuntimeError(f"重建进程失败 a rebuild worker failed: {errors.decode()[-2000:]}")
        return done

    try:
        return sum(await asyncio.gather(*(follow(p) for p in processes)))
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def _work(
    settings: ReportingSettings,
    share: str,
    into: str,
    until: Mapping[str, int],
    batch_size: int,
    fresh: bool,
    names: Sequence[str],
) -> None:
    """One worker's share: complaints whose hash is part k of N (`share`: "k/N"), up to the
    rebuild's start."""
    part, parts = (int(x) for x in share.split("/"))
    models = {name: MODELS[name] for name in names}
    parent = os.getppid()
    target = await connect(settings.database_url)
    urls = settings.store_urls()
    sources = {name: await connect(urls[name]) for name in until}
    try:
        await target.execute(f'SET search_path TO "{into}"')
        await target.execute("SET synchronous_commit = off")

        def advance(count: int) -> None:
            if os.getppid() != parent:  # the rebuild that started us is gone
                raise SystemExit(1)
            print(f"progress {count}", flush=True)

        slices = {name: Slice(until=until[name], part=part, parts=parts) for name in until}
        after = dict.fromkeys(until, 0)
        keyring = Keyring(settings.intake_keys())
        copied = _appended(models) if fresh else frozenset()
        await _drain(sources, target, models, after, batch_size, advance, keyring, slices, copied)
    finally:
        await target.close()
        for conn in sources.values():
            await conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    """A worker process of a rebuild, started by `_parallel` (not an operator command)."""
    parser = argparse.ArgumentParser(prog="python -m services.reporting.rebuild")
    parser.add_argument("share", help="k/N: this worker's part of the complaints")
    parser.add_argument("models", nargs="+", metavar="MODEL")
    parser.add_argument("--into", required=True, help="the rebuild's schema")
    parser.add_argument("--until", required=True, help="each store's last position (JSON)")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--fresh", action="store_true", help="the tables are the rebuild's own")
    args = parser.parse_args(argv)
    tune_collector(YOUNG_GC)
    until = json.loads(args.until)
    asyncio.run(
        _work(
            ReportingSettings(), args.share, args.into, until, args.batch, args.fresh, args.models
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
