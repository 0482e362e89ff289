"""Prometheus metrics of the shared machinery (each service process exposes them at /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

RELAY_PUBLISHED = Counter(
    "jiesu_relay_published_total", "Events the outbox relay published", ["relay"]
)
RELAY_REDRIVES = Counter(
    "jiesu_relay_redrives_total", "Times the relay found the broker had lost data", ["relay"]
)
RELAY_POSITION = Gauge(
    "jiesu_relay_position", "Global position up to which the relay has published", ["relay"]
)
CONSUMER_MESSAGES = Counter(
    "jiesu_consumer_messages_total",
    "Messages a consumer saw, by outcome (handled, duplicate, skipped, dead_lettered)",
    ["consumer", "outcome"],
)
CONSUMER_RETRIES = Counter(
    "jiesu_consumer_retries_total", "Handler attempts that failed and were retried", ["consumer"]
)

_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
CONSUMER_BATCH_RECORDS = Histogram(
    "jiesu_consumer_batch_records",
    "Records in each batch a consumer took off the bus (small batches: per-batch costs per record)",
    ["consumer"],
    buckets=_SIZES,
)
RELAY_BATCH_EVENTS = Histogram(
    "jiesu_relay_batch_events",
    "Events the outbox relay published in each round",
    ["relay"],
    buckets=_SIZES,
)
