"""The outbox relay: publishes a service's stored events to its topic, in commit order, at least once."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Iterable

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from shared.db import Connection, connect
from shared.eventstore import NOTIFY_CHANNEL, EventStore, Horizon
from shared.kafka import ensure_topics, log_is_shorter, make_offsets_reader, make_producer
from shared.metrics import (
    RELAY_BATCH_EVENTS,
    RELAY_BEHIND,
    RELAY_DELAY,
    RELAY_POSITION,
    RELAY_PUBLISHED,
    RELAY_REDRIVES,
)
from shared.settings import ServiceSettings
from shared.telemetry import end, producing
from shared.waits import woken

log = logging.getLogger(__name__)

# How far the relay is behind its store, from the checkpoint (so every replica, the standby
# too, reports the active relay's figures). Positions drawn by appends that rolled back count
# as behind: the figure is an upper bound, exact when nothing rolled back.
_BEHIND = """
SELECT coalesce((SELECT max(global_position) FROM events), 0) - c.position AS behind,
       coalesce(extract(epoch FROM clock_timestamp() - (
           SELECT recorded_at FROM events WHERE global_position > c.position
           ORDER BY global_position LIMIT 1)), 0)::float8 AS delay_s
FROM (SELECT coalesce((SELECT position FROM relay_checkpoints WHERE relay = $1), 0) AS position) c
"""

# A standby relay asks for the leader's lock this often (a shorter poll makes it ask sooner).
STANDBY_LOOK_S = 10.0


class OutboxRelay:
    """Tails the store by global position up to its horizon (see Horizon: appends commit in
    any order, so the relay never reads past a position a transaction may still commit) and
    checkpoints what the broker acknowledged.

    Duplicates are possible (a crash between publish and checkpoint re-sends a batch); the
    consumers' inboxes absorb them. Loss is not: the checkpoint only moves after acks, and if
    the broker ever reports a partition shorter than what it acknowledged (the embedded broker
    restarted empty, or a topic was deleted), the relay re-drives from the beginning.

    An empty broker must get its topics back before any producer reaches it (the local runner
    stops the services first): the embedded Tansu, sent records for a topic it has not created
    yet, can give the same offsets to two batches, and readers skip the later batch's records
    as seen. No check of offsets tells such a log from a healthy one.
    """

    def __init__(
        self,
        *,
        name: str,
        pool: asyncpg.Pool,
        store: EventStore,
        topic: str,
        settings: ServiceSettings,
    ) -> None:
        self.name = name
        self.pool = pool
        self.store = store
        self.topic = topic
        self.settings = settings
        self.position = 0
        self.acked: dict[int, int] = {}
        self.horizon = Horizon()
        self.redrives = 0
        self.connected = False
        self.standby = False
        self._wake = asyncio.Event()
        # One active relay per store: replicas wait on this session lock and take over when
        # the holder's connection dies.
        self._leader_key = int.from_bytes(
            hashlib.sha256(name.encode()).digest()[:8], "big", signed=True
        )

    async def run(self) -> None:
        """Publish until cancelled, reconnecting after any failure."""
        delay = 0.5
        while True:
            try:
                await self._run_connected()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("relay %s: %s; retrying in %.1fs", self.name, error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def wake(self) -> None:
        """Look at the outbox now (what a commit's NOTIFY does)."""
        self._wake.set()

    async def sample(self, conn: Connection) -> None:
        """Set how far behind the store the relay is (events, and the oldest one's age)."""
        row = await conn.fetchrow(_BEHIND, self.name, timeout=5)
        assert row is not None
        RELAY_BEHIND.labels(self.name).set(max(0, row["behind"]))
        RELAY_DELAY.labels(self.name).set(max(0.0, row["delay_s"]))

    async def _run_connected(self) -> None:
        bootstrap = self.settings.kafka_bootstrap_servers
        producer = make_producer(self.settings)
        reader = make_offsets_reader(bootstrap)
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
        listener: asyncpg.Connection | None = None
        try:
            listener = await connect(self.settings.database_url)
            while not await listener.fetchval("SELECT pg_try_advisory_lock($1)", self._leader_key):
                self.standby = True
                await asyncio.sleep(min(self.settings.relay_poll_interval_s * 2, STANDBY_LOOK_S))
            self.standby = False
            await producer.start()
            await reader.start()
            await admin.start()
            await listener.add_listener(NOTIFY_CHANNEL, lambda *_: self.wake())
            await self._load_state()
            self.connected = True
            last_check = 0.0
            while True:
                if time.monotonic() - last_check >= self.settings.relay_loss_check_interval_s:
                    await self._detect_loss(admin, reader)
                    last_check = time.monotonic()
                # Clear before reading: a commit that lands after the read still wakes the wait.
                self._wake.clear()
                published = await self._publish_batch(producer)
                if published < self.settings.relay_batch_size:
                    wait = self.horizon.next_look(self.settings.relay_poll_interval_s)
                    await woken(self._wake, wait)
        finally:
            self.connected = False
            if listener is not None:
                await listener.close()
            await producer.stop()
            await reader.stop()
            await admin.close()

    async def _load_state(self) -> None:
        async with self.pool.acquire() as conn:
            self.position = (
                await conn.fetchval(
                    "SELECT position FROM relay_checkpoints WHERE relay = $1", self.name
                )
                or 0
            )
            rows = await conn.fetch(
                "SELECT partition, next_offset FROM relay_offsets WHERE relay = $1", self.name
            )
        self.acked = {row["partition"]: row["next_offset"] for row in rows}
        RELAY_POSITION.labels(self.name).set(self.position)

    async def _save_state(self, position: int, partitions: Iterable[int]) -> None:
        """Checkpoint `position` and the acknowledged offsets of `partitions`; `self.position`
        moves only once that has committed."""
        touched = sorted(set(partitions))
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """
                INSERT INTO relay_checkpoints (relay, position) VALUES ($1, $2)
                ON CONFLICT (relay) DO UPDATE SET position = $2, updated_at = now()
                """,
                self.name,
                position,
            )
            if touched:
                await conn.execute(
                    """
                    INSERT INTO relay_offsets (relay, partition, next_offset)
                    SELECT $1, p, o FROM unnest($2::int[], $3::bigint[]) AS t(p, o)
                    ON CONFLICT (relay, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset
                    """,
                    self.name,
                    touched,
                    [self.acked[p] for p in touched],
                )
        self.position = position
        RELAY_POSITION.labels(self.name).set(position)

    async def _publish_batch(self, producer: AIOKafkaProducer) -> int:
        async with self.pool.acquire() as conn:
            settled = await self.horizon.advance(conn)
            if settled <= self.position:
                return 0
            batch = await self.store.read_published(
                conn, self.position, self.settings.relay_batch_size, settled
            )
        if not batch:
            return 0
        spans, messages = producing(self.topic, [message for _, message in batch])
        try:
            pending = [
                await producer.send(self.topic, m.value, key=m.key, headers=m.headers)
                for m in messages
            ]
            results = await asyncio.gather(*pending)
        except Exception as error:
            for span in spans:
                end(span, error)
            raise
        for span in spans:
            span.end()
        went_back = False
        for metadata in results:
            # Offsets only grow in a healthy log: a smaller one means the log started again.
            went_back |= metadata.offset < self.acked.get(metadata.partition, 0)
            self.acked[metadata.partition] = max(
                self.acked.get(metadata.partition, 0), metadata.offset + 1
            )
        if went_back:
            await self._redrive()
            return len(batch)
        await self._save_state(batch[-1][0], (metadata.partition for metadata in results))
        RELAY_PUBLISHED.labels(self.name).inc(len(batch))
        RELAY_BATCH_EVENTS.labels(self.name).observe(len(batch))
        return len(batch)

    async def _detect_loss(self, admin: AIOKafkaAdminClient, reader: AIOKafkaConsumer) -> None:
        if self.topic not in set(await admin.list_topics()):
            log.warning("relay %s: topic %s is gone; recreating it", self.name, self.topic)
            await ensure_topics(
                self.settings.kafka_bootstrap_servers,
                replication_factor=self.settings.kafka_replication_factor,
            )
            lost = True
        else:
            lost = False
            for partition, next_offset in self.acked.items():
                if await log_is_shorter(reader, self.topic, partition, next_offset):
                    lost = True
                    break
        if lost and (self.position or self.acked):
            await self._redrive()

    async def _redrive(self) -> None:
        log.warning(
            "relay %s: the broker lost acknowledged records of %s; re-driving from the start",
            self.name,
            self.topic,
        )
        RELAY_REDRIVES.labels(self.name).inc()
        self.redrives += 1
        self.position = 0
        self.acked = {}
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM relay_offsets WHERE relay = $1", self.name)
            await conn.execute(
                "INSERT INTO relay_checkpoints (relay, position) VALUES ($1, 0) "
                "ON CONFLICT (relay) DO UPDATE SET position = 0, updated_at = now()",
                self.name,
            )
        RELAY_POSITION.labels(self.name).set(0)
