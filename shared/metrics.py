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

# Seconds: a read answers in a few milliseconds, a filing in tens, a slow dependency in seconds.
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HTTP_REQUESTS = Counter(
    "jiesu_http_requests_total",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "jiesu_http_request_duration_seconds",
    "Time from a request's arrival to its response's start (an event stream counts its opening)",
    ["method", "route"],
    buckets=_SECONDS,
)
CONSUMER_LAG = Gauge(
    "jiesu_consumer_lag",
    "Records on the partition after what the consumer handled (highwater − position), per batch",
    ["consumer", "topic", "partition"],
)
CONSUMER_REBALANCES = Counter(
    "jiesu_consumer_rebalances_total",
    "Partitions taken from (revoked) or given to (assigned) this member, by rebalance",
    ["consumer", "event"],
)
CONSUMER_ASSIGNED = Gauge(
    "jiesu_consumer_assigned_partitions", "Partitions this member holds now", ["consumer"]
)
CONSUMER_REBALANCE_PAUSE = Histogram(
    "jiesu_consumer_rebalance_pause_seconds",
    "From this member's revoke to its next assignment: the time it handled nothing",
    ["consumer"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0),
)
HANDLER_DURATION = Histogram(
    "jiesu_handler_duration_seconds",
    "Time to handle one batch of records (its transaction, or the one-by-one fallback)",
    ["consumer"],
    buckets=_SECONDS,
)
RELAY_BEHIND = Gauge(
    "jiesu_relay_behind_events",
    "Positions in the store after the relay's checkpoint (events not yet published)",
    ["relay"],
)
RELAY_DELAY = Gauge(
    "jiesu_relay_delay_seconds",
    "Age of the oldest event not yet published (0 when the relay is caught up)",
    ["relay"],
)
