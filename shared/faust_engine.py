"""The faust consumer engine (KAFKA_CONSUMER_ENGINE=faust): a faust app whose agents hand
raw records to the idempotent consumer. Apart from shared/consumer.py, so that what imports
the consumer (every handler module, a rebuild's workers) does not import faust (0.3 s)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, cast

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from shared.consumer import ConsumedRecord, IdempotentConsumer, heartbeat_ms, show_lag
from shared.kafka_pacing import pace
from shared.settings import ServiceSettings


class _ShortPollConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # faust fixes fetch_max_wait_ms at 1500. The embedded Tansu does not answer a waiting
        # fetch when records arrive, so every hop would sit out the rest of that wait (measured:
        # ~0.5-1.2 s per hop at 1500 ms, under 15 ms at 25 ms). The paced consumer asks for the
        # short wait while records flow and the long one at rest.
        app = cast(ServiceFaustApp, self.app)
        busy_ms = app.fetch_max_wait_ms
        pace(consumer, busy_ms, max(busy_ms, app.fetch_idle_wait_ms), app.fetch_idle_after_s)
        return consumer


class _ShortPollConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ShortPollConsumerThread:
        return _ShortPollConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _ShortPollConsumer


class ServiceFaustApp(faust.App):
    """faust with a configurable consumer fetch wait."""

    fetch_max_wait_ms: int = 500
    fetch_idle_wait_ms: int = 500
    fetch_idle_after_s: float = 2.0

    def _new_transport(self) -> _Transport:
        return _Transport(self.conf.broker_consumer, self)


def faust_broker_urls(bootstrap_servers: str) -> list[str]:
    return [
        f"kafka://{server.strip()}" for server in bootstrap_servers.split(",") if server.strip()
    ]


def make_faust_app(app_id: str, settings: ServiceSettings) -> faust.App:
    """A faust app that only runs agents: durable state lives in Postgres, not in faust tables."""
    app = ServiceFaustApp(
        app_id,
        broker=faust_broker_urls(settings.kafka_bootstrap_servers),
        web_enabled=False,
        topic_disable_leader=True,
        topic_allow_declare=False,
        producer_enable_idempotence=settings.kafka_idempotent_producer,
        producer_acks=-1,
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_rebalance_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=heartbeat_ms(settings) / 1000,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        loop=asyncio.get_running_loop(),
    )
    app.fetch_max_wait_ms = settings.kafka_fetch_max_wait_ms
    app.fetch_idle_wait_ms = settings.kafka_fetch_idle_wait_ms
    app.fetch_idle_after_s = settings.kafka_fetch_idle_after_s
    return app


def _consumed(event: Any) -> ConsumedRecord:
    message = event.message
    headers = message.headers
    return ConsumedRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=event.key,
        value=event.value,
        headers=list(headers.items() if isinstance(headers, Mapping) else headers),
    )


def attach_consumer(
    app: faust.App,
    consumer: IdempotentConsumer,
    topics: Sequence[str],
    *,
    batch_size: int = 200,
) -> None:
    """A thin agent: raw records in (in stream order), the idempotent consumer does the rest.

    A batch is what has already arrived when a record is taken (up to `batch_size`): while
    one batch commits, the next gathers in the stream's queue. No timer waits for more (faust's
    `take_events` wakes every `within` to look, 200 times a second at 5 ms, even at rest).
    Offsets are acked only once their batch has been handled, so a crash mid-batch redelivers
    the batch and the inbox skips what had committed.
    """
    topic = app.topic(*topics, key_serializer="raw", value_serializer="raw")

    def highwater(tp: Any) -> int | None:
        try:
            end: int | None = app.consumer.highwater(tp)
        except AssertionError:  # the partition was taken away meanwhile
            return None
        return end

    async def consume(stream: Any) -> None:
        stream.enable_acks = False  # acked below, after the batch's transaction
        arrived = stream.channel.queue
        batch: list[Any] = []
        async for event in stream.events():
            batch.append(event)
            if len(batch) < batch_size and not arrived.empty():
                continue  # more is waiting already: into the same batch
            await consumer.handle_batch([_consumed(e) for e in batch])
            for handled in batch:
                await stream.ack(handled)
            # The partitions of this batch; the others' figures are from their last batch.
            show_lag(
                consumer.name,
                {e.message.tp: e.message.offset + 1 for e in batch},
                highwater,
            )
            batch = []

    app.agent(topic, name=consumer.name)(consume)
