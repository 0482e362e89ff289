"""Reporting's read models give one answer whatever order the topics interleave in, and a
rebuild from the event stores equals what the live consumer built, row for row."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest

from deploy.local.processes import free_port
from services.reporting import rebuild
from services.reporting.handlers import HANDLERS, handle_batch, opener
from services.reporting.projections import MODELS, SCHEMA_DIR, project
from services.reporting.store import apply, group
from services.reporting.upsert import Upsert
from shared.consumer import ConsumedRecord, IdempotentConsumer
from shared.db import apply_schema, create_pool, drop_database, ensure_database, with_database
from shared.envelope import Causation, Envelope
from shared.eventstore import SCHEMA as EVENTSTORE_SCHEMA
from shared.eventstore import EventStore
from shared.privacy import REDACTED_TEXT
from shared.sealing import IntakeKeys, Keyring, KeysUnavailable, WordsKey, seal_event
from tests.integration.cli import run_cli
from tests.integration.conftest import BROKER_STOP_S, serving
from tests.integration.gateways import Gateways
from tests.integration.gateways import create_app as create_gateways
from tests.support import examples, histories
from tests.support.examples import READER

pytestmark = pytest.mark.integration
# The generated histories hold no sealed filings: no key is asked for (the sealed ones are
# tested on their own, with keys served as intake serves them).
NO_KEYS = IntakeKeys("http://127.0.0.1:9", "unused")


async def _fresh(pg_server_url: str, name: str) -> str:
    url = with_database(pg_server_url, f"t_{name}_{uuid.uuid4().hex[:8]}")
    await ensure_database(url)
    return url


async def prepare_reporting(pool: asyncpg.Pool) -> None:
    await apply_schema(
        pool, EVENTSTORE_SCHEMA, SCHEMA_DIR / "models.sql", *(m.schema for m in MODELS.values())
    )


async def snapshot(conn: Any) -> dict[str, list[tuple]]:
    """Every read-model table, sorted, without the column that records when it was projected."""
    tables: dict[str, list[tuple]] = {}
    for model in MODELS.values():
        for table in model.tables:
            rows = await conn.fetch(f"SELECT * FROM {table}")
            tables[table] = sorted(
                tuple((k, repr(v)) for k, v in dict(r).items() if k != "projected_at") for r in rows
            )
    return tables


async def project_all(conn: Any, arrival: list[Envelope], chunk: int = 250) -> None:
    """Every envelope projected once, in order, `chunk` at a time to a statement per table: the
    rows one-by-one projection gives, the upserts commuting (test_rows_written_many_to_a_
    statement_hold_what_each_written_alone_holds), in a hundredth of the round trips."""
    async with conn.transaction():
        for start in range(0, len(arrival), chunk):
            await apply(conn, [w for e in arrival[start : start + chunk] for w in project(e)])


def envelopes(history: histories.History) -> dict[str, list[Envelope]]:
    """Each topic's envelopes in its store's commit order, numbered as the stores number them."""
    out: dict[str, list[Envelope]] = {}
    for store in histories.STORES:
        out[histories.TOPIC_OF[store]] = [
            Envelope(
                event=event,
                id=uuid.uuid5(uuid.NAMESPACE_URL, f"{stream.name}/{index}"),
                source=f"/jiesu/{store}",
                time=stream.events[index][0],
                correlation_id=uuid.uuid5(uuid.NAMESPACE_URL, stream.key),
                sequence=index,
            )
            for stream, index, event in histories.iter_records(history, store)
        ]
    return out


def interleave(topics: dict[str, list[Any]], rng: random.Random) -> list[Any]:
    """A random arrival order that keeps each topic's own order."""
    cursors = dict.fromkeys(topics, 0)
    labels = [name for name, items in topics.items() for _ in items]
    rng.shuffle(labels)
    arrival = []
    for name in labels:
        arrival.append(topics[name][cursors[name]])
        cursors[name] += 1
    return arrival


def with_duplicates(arrival: list[Any], rng: random.Random, share: float) -> list[Any]:
    """Some messages delivered again later, as a redelivery after a crash would."""
    out = list(arrival)
    for item in rng.sample(arrival, int(len(arrival) * share)):
        out.insert(rng.randrange(out.index(item) + 1, len(out) + 1), item)
    return out


def live_consumer(pool: Any, keyring: Keyring, **options: Any) -> IdempotentConsumer:
    """Reporting's live consumer as its runtime builds it (filings opened by `keyring` before
    a connection is taken), with no dead letters: a test fails rather than lose a record."""
    return IdempotentConsumer(
        name="reporting",
        pool=pool,
        store=EventStore("/jiesu/reporting"),
        handlers=HANDLERS,
        batch_handler=handle_batch,
        prepare=opener(keyring),
        dead_letters=NoDeadLetters(),
        **options,
    )


async def test_every_read_model_is_the_same_whatever_order_the_topics_interleave_in(pool):
    await prepare_reporting(pool)
    history = histories.generate(40, seed=11)
    topics = envelopes(history)
    rng = random.Random(5)
    orders = {
        "topic by topic": [e for name in topics for e in topics[name]],
        "topics reversed": [e for name in reversed(list(topics)) for e in topics[name]],
        **{f"shuffle {i}": interleave(topics, rng) for i in range(3)},
        "shuffle with redeliveries": with_duplicates(interleave(topics, rng), rng, 0.2),
    }
    results = {}
    async with pool.acquire() as conn:
        for name, arrival in orders.items():
            transaction = conn.transaction()
            await transaction.start()
            try:
                for envelope in arrival:
                    await apply(conn, project(envelope))
                results[name] = await snapshot(conn)
            finally:
                await transaction.rollback()
    first = results["topic by topic"]
    for name, result in results.items():
        for table in first:
            assert result[table] == first[table], f"{name}: {table} differs"
    # And the answer is about the history: every complaint has its row and every event its line.
    assert len(first["cases"]) == 40
    with_complaint = sum(
        1 for stream in history.streams if stream.name != "city-model" for _ in stream.events
    )
    assert len(first["case_timeline"]) == with_complaint
    assert len(first["areas"]) == len(histories.CITY["areas"])


async def test_a_rebuild_copies_the_timeline_in_and_an_event_read_twice_does_not_fail_it(pool):
    await prepare_reporting(pool)
    history = histories.generate(8, seed=17)
    arrival = [e for topic in envelopes(history).values() for e in topic]
    copied = frozenset({"case_timeline"})
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            for envelope in arrival:
                await apply(conn, project(envelope))
            upserted = await snapshot(conn)
        finally:
            await transaction.rollback()
        transaction = conn.transaction()
        await transaction.start()
        try:
            half = len(arrival) // 2
            for batch in (arrival[:half], arrival[half:], arrival[: half // 2]):
                grouped = group(w for envelope in batch for w in project(envelope))
                await rebuild._fill(conn, grouped, copied)
            copied_in = await snapshot(conn)
        finally:
            await transaction.rollback()
    assert len(copied_in["case_timeline"]) == sum(
        1 for stream in history.streams if stream.name != "city-model" for _ in stream.events
    )
    assert copied_in == upserted


async def test_rows_written_many_to_a_statement_hold_what_each_written_alone_holds(pool):
    """A batch's rows of a table travel as one array a column, a row alone as parameters."""
    await prepare_reporting(pool)
    beijing = timezone(timedelta(hours=8))

    def writes(item_id: uuid.UUID, complaint_id: uuid.UUID) -> list[Upsert]:
        held = {
            "minutes": '纪要 "一" \\ 二',
            "settled": False,
            "participants": ["甲", "乙"],
            "held_at": datetime(2026, 3, 1, 8, 30, 0, 123456, tzinfo=beijing),
        }
        decided = {
            "decision": None,
            "assignments": [{"unit": "街道", "share": 0.1}],
            "decided_at": None,
        }
        personal = {
            "text": "",
            "address": None,
            "latitude": 36.65123456789012,
            "longitude": 117.1,
            "masked_phone": None,
        }
        return [
            Upsert(
                "agenda_items",
                {"item_id": item_id},
                once={"complaint_id": complaint_id, "title": "x", "opened_at": datetime.now(UTC)},
                registers={"held_seq": (3, held), "decided_seq": (4, decided)},
            ),
            Upsert(
                "cases", {"complaint_id": complaint_id}, registers={"personal_seq": (1, personal)}
            ),
        ]

    alone = [(uuid.uuid4(), uuid.uuid4()) for _ in range(3)]
    together = [(uuid.uuid4(), uuid.uuid4()) for _ in range(3)]
    async with pool.acquire() as conn:
        for ids in alone:
            await apply(conn, writes(*ids))
        await apply(conn, [w for ids in together for w in writes(*ids)])

        async def rows(ids: list[tuple[uuid.UUID, uuid.UUID]]) -> list[tuple[Any, ...]]:
            items = await conn.fetch(
                "SELECT minutes, settled, participants, held_at, held_seq, decision, assignments, "
                "decided_at, decided_seq FROM agenda_items WHERE item_id = ANY($1::uuid[])",
                [i for i, _ in ids],
            )
            cases = await conn.fetch(
                "SELECT text, address, latitude, longitude, masked_phone, personal_seq FROM cases "
                "WHERE complaint_id = ANY($1::uuid[])",
                [c for _, c in ids],
            )
            return sorted(tuple(r) for r in items) + sorted(tuple(r) for r in cases)

        assert await rows(together) == await rows(alone)
        assert len(await rows(alone)) == 6


@dataclass
class Stores:
    urls: dict[str, str]
    pools: dict[str, asyncpg.Pool]

    def replay_env(self, reporting_url: str, batch: int) -> dict[str, str]:
        """What the replay command needs to rebuild `reporting_url` from these stores."""
        return {
            "REPORTING_DATABASE_URL": reporting_url,
            **{f"REPORTING_{name.upper()}_STORE_URL": url for name, url in self.urls.items()},
            "REPORTING_REPLAY_BATCH_SIZE": str(batch),
        }


@pytest.fixture
async def stores(pg_server_url: str) -> AsyncIterator[Stores]:
    urls = {name: await _fresh(pg_server_url, name) for name in histories.STORES}
    pools = {name: await create_pool(url) for name, url in urls.items()}
    for p in pools.values():
        await apply_schema(p, EVENTSTORE_SCHEMA)
    yield Stores(urls, pools)
    for p in pools.values():
        await p.close()
    for url in urls.values():
        await drop_database(url)


async def write_history(stores: Stores, history: histories.History) -> None:
    """The history appended to the three real event stores, as the services would."""
    for store in histories.STORES:
        event_store = EventStore(f"/jiesu/{store}")
        async with stores.pools[store].acquire() as conn:
            for stream, index, event in histories.iter_records(history, store):
                async with conn.transaction():
                    await event_store.append(
                        conn,
                        stream.name,
                        [event],
                        Causation.start(uuid.uuid5(uuid.NAMESPACE_URL, stream.key)),
                        index,
                    )


async def kafka_records(stores: Stores) -> dict[str, list[ConsumedRecord]]:
    """Every stored event as its relay publishes it (binary-mode CloudEvents, stream position)."""
    out: dict[str, list[ConsumedRecord]] = {}
    for store in histories.STORES:
        topic = histories.TOPIC_OF[store]
        event_store = EventStore(f"/jiesu/{store}")
        async with stores.pools[store].acquire() as conn:
            recorded = await event_store.read_all(conn, 0, limit=1_000_000)
        out[topic] = []
        for offset, event in enumerate(recorded):
            message = event.to_kafka()
            out[topic].append(
                ConsumedRecord(topic, 0, offset, message.key, message.value, message.headers)
            )
    return out


class NoDeadLetters:
    async def publish(
        self, record: ConsumedRecord, consumer: str, error: str, attempts: int
    ) -> None:
        raise AssertionError(f"{consumer} dead-lettered a record: {error}")


async def test_a_rebuild_from_the_event_stores_equals_the_live_models_row_for_row(
    pg_server_url: str, stores: Stores
):
    history = histories.generate(60, seed=23)
    await write_history(stores, history)
    reporting_url = await _fresh(pg_server_url, "reporting")
    pool = await create_pool(reporting_url)
    try:
        await prepare_reporting(pool)
        consumer = live_consumer(
            pool,
            Keyring(NO_KEYS),
            max_attempts=3,
            backoff_initial_s=0.01,
        )
        rng = random.Random(3)
        arrival = with_duplicates(interleave(await kafka_records(stores), rng), rng, 0.15)
        outcomes: dict[str, int] = {}
        # in batches of 1 to 60 records, as the live consumer takes them (a redelivery may
        # fall in the same batch as its original)
        start = 0
        while start < len(arrival):
            size = rng.randint(1, 60)
            for outcome in await consumer.handle_batch(arrival[start : start + size]):
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
            start += size
        # every event of the history is one reporting handles; each redelivery is a duplicate
        assert {type(e) for s in history.streams for _, e in s.events} <= set(HANDLERS)
        assert outcomes == {"handled": history.events, "duplicate": len(arrival) - history.events}
        async with pool.acquire() as conn:
            live = await snapshot(conn)
        assert len(live["cases"]) == 60

        env = stores.replay_env(reporting_url, batch=300)
        # three worker processes share the complaints (the projections commute, so any split
        # gives the same rows)
        out = await run_cli(
            "services.reporting.cli", "replay", "rebuild", "--all", "--workers", "3", env=env
        )
        assert "重建完成" in out and "事件/秒" in out, out
        assert f"{history.events:,} 个事件" in out, out
        async with pool.acquire() as conn:
            rebuilt = await snapshot(conn)
            # the rebuilt tables are the live ones now, and nothing is left of the rebuild
            schemas = await conn.fetch(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rebuild_%'"
            )
        assert not schemas
        for table in live:
            assert rebuilt[table] == live[table], f"{table} differs after the rebuild"

        # One model alone, while the others stay as they are.
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM agenda_items")
        out = await run_cli(
            "services.reporting.cli", "replay", "rebuild", "agenda", "--workers", "1", env=env
        )
        assert "rebuilt agenda" in out
        async with pool.acquire() as conn:
            assert await snapshot(conn) == live
        listing = await run_cli("services.reporting.cli", "replay", "list", env=env)
        assert "agenda" in listing and "重建于" in listing
    finally:
        await pool.close()
        await drop_database(reporting_url)


async def test_the_rebuild_command_refuses_an_unknown_model_and_says_which_there_are(pg_server_url):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.reporting.cli",
        "replay",
        "rebuild",
        "boards",
        env={**os.environ, "DATABASE_URL": pg_server_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    assert process.returncode == 2
    assert "没有读模型 boards" in err.decode() and "cases" in err.decode()


async def test_a_rebuild_killed_halfway_leaves_the_live_models_as_they_were_and_runs_again(
    pg_server_url: str, stores: Stores
):
    history = histories.generate(400, seed=31)
    for store in histories.STORES:
        await histories.copy_store(stores.urls[store], history, store)
    reporting_url = await _fresh(pg_server_url, "reporting")
    pool = await create_pool(reporting_url)
    env = {**os.environ, **stores.replay_env(reporting_url, batch=200)}
    try:
        await prepare_reporting(pool)
        # the live models hold the first half of the intake store only
        async with pool.acquire() as conn:
            await project_all(conn, envelopes(history)["complaint.events"][:500])
            before = await snapshot(conn)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.reporting.cli", "replay", "rebuild", "--all", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        # SIGKILL it once the new tables hold some rows, before the swap
        async with pool.acquire() as conn:
            for _ in range(400):
                schema = await conn.fetchval(
                    "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rebuild_%'"
                )
                if (
                    schema
                    and await conn.fetchval(
                        "SELECT to_regclass($1) IS NOT NULL", f"{schema}.case_timeline"
                    )
                    and await conn.fetchval(f'SELECT count(*) FROM "{schema}".case_timeline') > 0
                ):
                    break
                await asyncio.sleep(0.02)
            process.kill()
            await process.wait()
            assert schema, "the rebuild never started"
            assert await snapshot(conn) == before  # the live tables are untouched
        out = await run_cli("services.reporting.cli", "replay", "rebuild", "--all", env=env)
        assert "重建完成" in out
        async with pool.acquire() as conn:
            left = await conn.fetch(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rebuild_%'"
            )
            cases = await conn.fetchval("SELECT count(*) FROM cases")
        assert not left, "the killed run's tables were left behind"
        assert cases == 400
    finally:
        await pool.close()
        await drop_database(reporting_url)


def split(history: histories.History, first: int) -> tuple[histories.History, histories.History]:
    """The city and the first `first` complaints; the other complaints."""
    keys: list[str] = []
    for stream in history.streams:
        if stream.key != "city-model" and stream.key not in keys:
            keys.append(stream.key)
    early = {"city-model", *keys[:first]}
    return (
        histories.History([s for s in history.streams if s.key in early]),
        histories.History([s for s in history.streams if s.key not in early]),
    )


async def test_the_live_consumer_keeps_writing_while_a_rebuild_runs_and_swaps_and_nothing_is_lost(
    pg_server_url: str, stores: Stores, tmp_path
):
    """Half the complaints are in the stores; the rebuild starts; the other half is appended and
    consumed live meanwhile (before, during and after the swap). The result is what one
    projection of everything gives."""
    history = histories.generate(1500, seed=41)
    before, during = split(history, 1200)
    for store in histories.STORES:
        await histories.copy_store(stores.urls[store], before, store)
    reporting_url = await _fresh(pg_server_url, "reporting")
    expected_url = await _fresh(pg_server_url, "expected")
    pool, expected_pool = await create_pool(reporting_url), await create_pool(expected_url)
    env = stores.replay_env(reporting_url, batch=500)
    try:
        await prepare_reporting(pool)
        await prepare_reporting(expected_pool)
        consumer = live_consumer(
            pool,
            Keyring(NO_KEYS),
            max_attempts=20,
            backoff_initial_s=0.05,
            backoff_max_s=0.5,
        )
        # the live tables start with the early half's intake events only
        async with pool.acquire() as conn:
            await project_all(conn, envelopes(before)["complaint.events"])
        rebuilding = asyncio.create_task(
            run_cli("services.reporting.cli", "replay", "rebuild", "--all", env=env)
        )

        async def append_and_consume() -> None:
            for store in histories.STORES:
                event_store = EventStore(f"/jiesu/{store}")
                async with stores.pools[store].acquire() as conn:
                    for stream, index, event in histories.iter_records(during, store):
                        async with conn.transaction():
                            [recorded] = await event_store.append(
                                conn, stream.name, [event], Causation.start(), index
                            )
                        message = recorded.to_kafka()
                        record = ConsumedRecord(
                            store, 0, 0, message.key, message.value, message.headers
                        )
                        assert await consumer.handle(record) == "handled"

        await asyncio.gather(rebuilding, append_and_consume())
        assert "重建完成" in rebuilding.result()
        for store in histories.STORES:  # the expected answer: every stored event, once
            async with stores.pools[store].acquire() as conn:
                stored = await EventStore("/x").read_all(conn, 0, limit=1_000_000)
            async with expected_pool.acquire() as conn:
                await project_all(conn, [event.to_envelope() for event in stored])
        async with pool.acquire() as conn, expected_pool.acquire() as other:
            got, want = await snapshot(conn), await snapshot(other)
        assert len(want["cases"]) == 1500
        for table in want:
            assert got[table] == want[table], f"{table} differs"
    finally:
        await pool.close()
        await expected_pool.close()
        await drop_database(reporting_url)
        await drop_database(expected_url)


async def test_reporting_rebuilds_at_start_a_model_an_older_release_built(
    pg_server_url: str, stores: Stores, tmp_path_factory: pytest.TempPathFactory
):
    """The tables of an older shape (no read_models row) are dropped, and every model is filled
    from the stores in the background while the service is already up."""
    from deploy.local.processes import free_ports, tansu_broker, wait_for_port_open
    from services.reporting.main import create_app
    from services.reporting.settings import ReportingSettings
    from tests.integration.conftest import FAST, serving

    history = histories.generate(80, seed=43)
    for store in histories.STORES:
        await histories.copy_store(stores.urls[store], history, store)
    reporting_url = await _fresh(pg_server_url, "reporting")
    conn = await asyncpg.connect(reporting_url)
    await conn.execute(  # the previous release's case table
        "CREATE TABLE cases (complaint_id uuid PRIMARY KEY, case_number text, filed_at timestamptz,"
        " updated_at timestamptz NOT NULL DEFAULT now())"
    )
    await conn.execute(
        "INSERT INTO cases (complaint_id, case_number) VALUES ($1, 'OLD')", uuid.uuid4()
    )
    await conn.close()
    broker_port, port = free_ports(2)
    broker = tansu_broker(broker_port, tmp_path_factory.mktemp("upgrade-broker") / "broker.log")
    broker.start()
    await wait_for_port_open(broker_port)
    settings = ReportingSettings(
        database_url=reporting_url,
        kafka_bootstrap_servers=f"127.0.0.1:{broker_port}",
        port=port,
        intake_store_url=stores.urls["intake"],
        dispatch_store_url=stores.urls["dispatch"],
        notify_store_url=stores.urls["notify"],
        **FAST,
    )
    try:
        async with serving(create_app(settings), port) as url:
            import httpx

            async with httpx.AsyncClient(base_url=url, timeout=10, headers=READER) as client:
                for _ in range(200):
                    models = {m["name"]: m for m in (await client.get("/read-models")).json()}
                    if models["cases"]["rebuilt_at"]:
                        break
                    await asyncio.sleep(0.1)
                page = (await client.get("/cases", params={"limit": 1})).json()
        assert models["cases"]["rebuilt_at"] and models["cases"]["events"] == history.events
        assert models["agenda"]["rebuilt_at"] and models["city"]["rebuilt_at"]
        assert page["total"] == 80  # the old row is gone, the stores' cases are there
    finally:
        await broker.stop(timeout=BROKER_STOP_S)
        await drop_database(reporting_url)


async def sealed_filings(stores: Stores, count: int) -> tuple[dict[str, str | None], list[Any]]:
    """`count` sealed filings of two residents appended to the intake store, the first
    resident's key since destroyed: the words keys as intake would serve them, and the
    filings as they were said."""
    keys = {"R-" + "e" * 20: os.urandom(32), "R-" + "f" * 20: os.urandom(32)}
    said = []
    event_store = EventStore("/jiesu/intake")
    async with stores.pools["intake"].acquire() as conn:
        for i in range(count):
            resident = list(keys)[i % 2]
            filed = examples.complaint_filed(
                resident_ref=resident,
                text=f"顶楼漏雨，暗号S{i:03d}",
                address=f"玫城丽都小区2号楼1单元{600 + i}室",
                latitude=36.55,
                longitude=116.8,
            )
            said.append(filed)
            sealed = seal_event(filed, WordsKey.of(keys[resident]), PLACE)
            async with conn.transaction():
                await event_store.append(
                    conn, f"complaint-{filed.complaint_id}", [sealed], Causation.start(), 0
                )
    served = {ref: base64.b64encode(k).decode() for ref, k in keys.items()}
    served["R-" + "e" * 20] = None  # erased
    return served, said


PLACE = "会仙山社区玫城丽都2号楼"


async def cases_said(conn: Any) -> dict[Any, tuple[str | None, str | None]]:
    rows = await conn.fetch("SELECT complaint_id, text, address FROM cases")
    return {r["complaint_id"]: (r["text"], r["address"]) for r in rows}


async def test_the_live_consumer_and_a_rebuild_open_sealed_filings_with_a_key_request_a_batch(
    pg_server_url: str, stores: Stores
):
    served, said = await sealed_filings(stores, 40)
    gateways = Gateways(words_keys=served)
    reporting_url = await _fresh(pg_server_url, "reporting")
    pool = await create_pool(reporting_url)
    port = free_port()
    try:
        await prepare_reporting(pool)
        async with serving(create_gateways(gateways), port) as intake_url:
            consumer = live_consumer(
                pool,
                Keyring(IntakeKeys(intake_url, "dev-key-reporting")),
            )
            records = (await kafka_records(stores))["complaint.events"]
            assert await consumer.handle_batch(records) == ["handled"] * 40
            assert len(gateways.key_lookups) == 1  # one request for the batch's 40 filings
            async with pool.acquire() as conn:
                live = await cases_said(conn)
            env = {
                **stores.replay_env(reporting_url, batch=15),
                "REPORTING_INTAKE_URL": intake_url,
                "REPORTING_INTAKE_KEY": "dev-key-reporting",
            }
            out = await run_cli(
                "services.reporting.cli", "replay", "rebuild", "cases", "--workers", "2", env=env
            )
            assert "重建完成" in out, out
            async with pool.acquire() as conn:
                rebuilt = await cases_said(conn)
        # a request per batch of 15 events (each of two workers reads about 20): never one
        # per event
        assert 2 <= len(gateways.key_lookups) - 1 <= 4
        assert rebuilt == live
        for filed in said:
            if filed.resident_ref == "R-" + "e" * 20:  # erased: the words are gone
                assert live[filed.complaint_id] == (REDACTED_TEXT, PLACE)
            else:
                assert live[filed.complaint_id] == (filed.text, filed.address)
    finally:
        await pool.close()
        await drop_database(reporting_url)


async def test_a_batch_whose_keys_intake_cannot_give_fails_whole_and_is_handled_once_it_can(
    pg_server_url: str, stores: Stores
):
    served, said = await sealed_filings(stores, 4)
    reporting_url = await _fresh(pg_server_url, "reporting")
    pool = await create_pool(reporting_url)
    port = free_port()
    try:
        await prepare_reporting(pool)
        consumer = live_consumer(
            pool,
            Keyring(IntakeKeys(f"http://127.0.0.1:{port}", "dev-key-reporting")),
            max_attempts=2,
            backoff_initial_s=0.01,
        )
        records = (await kafka_records(stores))["complaint.events"]
        with pytest.raises(KeysUnavailable):  # intake is not there yet
            await consumer.handle_batch(records)
        async with pool.acquire() as conn:
            assert await cases_said(conn) == {}  # no placeholder projected as what was said
            assert await conn.fetchval("SELECT count(*) FROM inbox") == 0  # nothing marked
        # intake is back: the same records, fetched again, are handled and opened
        async with serving(create_gateways(Gateways(words_keys=served)), port):
            assert await consumer.handle_batch(records) == ["handled"] * 4
        async with pool.acquire() as conn:
            projected = await cases_said(conn)
        kept = [f for f in said if f.resident_ref != "R-" + "e" * 20]
        assert all(projected[f.complaint_id] == (f.text, f.address) for f in kept)
    finally:
        await pool.close()
        await drop_database(reporting_url)


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_a_rebuild_whose_keys_intake_cannot_give_fails_and_says_so(
    pg_server_url: str, stores: Stores, workers: str
):
    """Intake out of reach during a rebuild: the command fails, naming the cause, and leaves
    the live tables as they were; it does not wait for ever (it once did: the reader's error
    never reached the writer)."""
    await sealed_filings(stores, 4)
    reporting_url = await _fresh(pg_server_url, "reporting")
    pool = await create_pool(reporting_url)
    try:
        await prepare_reporting(pool)
        env = {
            **os.environ,
            **stores.replay_env(reporting_url, batch=15),
            "REPORTING_INTAKE_URL": f"http://127.0.0.1:{free_port()}",  # nobody there
            "REPORTING_INTAKE_KEY": "dev-key-reporting",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.reporting.cli",
            "replay",
            "rebuild",
            "cases",
            "--workers",
            workers,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode != 0
        said = err.decode()
        assert "重建失败" in said and "intake keys" in said, said[-2000:]
        async with pool.acquire() as conn:
            assert await cases_said(conn) == {}
    finally:
        await pool.close()
        await drop_database(reporting_url)
