"""Settings every service shares; each service subclasses with its own env prefix (INTAKE_, ...)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar, Literal, Self

from pydantic import AliasChoices, BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.db import with_database

Environment = Literal["development", "test", "production"]

# What deploy/k8s/secrets.example.yaml holds where a real secret goes: CHANGE, CHANGE-…, :CHANGE@.
PLACEHOLDER = re.compile(r"(^|[:/@])CHANGE(\b|-|$)")


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", populate_by_name=True
    )

    service_name: str = "service"
    environment: Environment = Field("development", validation_alias=AliasChoices("JIESU_ENV"))
    # The service's own database. When unset: DATABASE_URL's server, database jiesu_<service>.
    database_url: str = ""
    server_database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/postgres",
        validation_alias=AliasChoices("DATABASE_URL"),
    )
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS")
    )
    # Tansu answers InitProducerId with an error, so idempotence is off unless the broker is
    # Apache Kafka (production turns it on).
    kafka_idempotent_producer: bool = Field(
        False, validation_alias=AliasChoices("KAFKA_IDEMPOTENT_PRODUCER")
    )
    # Short group timeouts let a restarted worker re-join quickly (the embedded broker waits
    # for the old member otherwise).
    kafka_session_timeout_s: float = Field(
        6.0, validation_alias=AliasChoices("KAFKA_SESSION_TIMEOUT_S")
    )
    # How often a consumer tells its group it is alive (at most a third of the session
    # timeout). A member hears of a rebalance at its next heartbeat; each is a broker request.
    kafka_heartbeat_interval_s: float = Field(
        2.0, validation_alias=AliasChoices("KAFKA_HEARTBEAT_INTERVAL_S")
    )
    # How long a consumer's fetch may wait for records. Apache Kafka answers as soon as records
    # arrive, so 500 suits it; the embedded Tansu waits the full time, so keep it short there.
    kafka_fetch_max_wait_ms: int = Field(
        25, validation_alias=AliasChoices("KAFKA_FETCH_MAX_WAIT_MS")
    )
    # ...and at rest: once no record came for KAFKA_FETCH_IDLE_AFTER_S, a consumer asks this
    # rarely (the first record after a quiet spell waits at most this long per hop).
    kafka_fetch_idle_wait_ms: int = Field(
        500, validation_alias=AliasChoices("KAFKA_FETCH_IDLE_WAIT_MS")
    )
    kafka_fetch_idle_after_s: float = Field(
        2.0, validation_alias=AliasChoices("KAFKA_FETCH_IDLE_AFTER_S")
    )
    # What takes records off the bus for the idempotent consumer: "aiokafka" (each getmany one
    # batch, handled offsets committed every second) or "faust" (an agent; faust's consumer
    # runs on a thread of its own and hands records over one by one). Both use the
    # group jiesu-<service>, so a switch carries on from the same committed offsets.
    kafka_consumer_engine: Literal["aiokafka", "faust"] = Field(
        "aiokafka", validation_alias=AliasChoices("KAFKA_CONSUMER_ENGINE")
    )
    # Replicas of each topic when a service creates it (3 on the production cluster).
    kafka_replication_factor: int = Field(
        1, validation_alias=AliasChoices("KAFKA_REPLICATION_FACTOR")
    )
    host: str = "127.0.0.1"
    port: int = 8000
    # Addresses of the reverse proxies whose X-Forwarded-For is believed (comma-separated, or
    # * for any). Empty: none, a client is the address it connects from.
    trusted_proxies: str = Field("", validation_alias=AliasChoices("TRUSTED_PROXIES"))
    # At stop, how long open requests and streams (a dashboard's live stream) get to end before
    # they are cancelled and the service stops all the same; the stop itself (consumer, relay,
    # workers, pool) comes after, so keep it well inside the orchestrator's grace period.
    shutdown_grace_s: int = Field(5, gt=0, validation_alias=AliasChoices("SHUTDOWN_GRACE_S"))
    # /docs, /redoc, /openapi.json and /metrics without a key. Default: open in development,
    # behind any of the service's keys in production (/healthz and /readyz stay open).
    ops_endpoints_public: bool | None = Field(
        None, validation_alias=AliasChoices("OPS_ENDPOINTS_PUBLIC")
    )
    db_pool_size: int = 10
    # Requests with a larger body are refused (413) before it is read past this many bytes.
    max_body_bytes: int = 64 * 1024
    # limits storage URI: memory:// counts per replica; redis://host:6379 shares the count.
    rate_limit_storage: str = "memory://"

    relay_batch_size: int = 500
    # Each commit wakes the relay (LISTEN/NOTIFY); this is the longest it waits without one
    # (a lost notification delays a committed event by at most this).
    relay_poll_interval_s: float = 30.0
    # How often the relay asks the broker whether it lost acknowledged records (and at every
    # reconnect). Each look is a few broker requests, at rest too.
    relay_loss_check_interval_s: float = 30.0

    consumer_max_attempts: int = 5
    consumer_backoff_initial_s: float = 0.2
    consumer_backoff_max_s: float = 5.0

    log_level: str = "INFO"
    # JSON lines for a log collector (the default), or plain lines for a developer's terminal.
    log_format: Literal["json", "text"] = Field("json", validation_alias=AliasChoices("LOG_FORMAT"))
    # Where spans go when no OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT): this file (OTLP
    # JSON lines; the local runner names one per service), else stdout if TRACES_CONSOLE.
    traces_file: str = Field("", validation_alias=AliasChoices("TRACES_FILE"))
    # Count and time every HTTP request (jiesu_http_requests_total, ..._duration_seconds); off
    # only to measure what the counting costs (tests.bench.latency --telemetry off).
    http_metrics: bool = Field(True, validation_alias=AliasChoices("HTTP_METRICS"))
    traces_console: bool = Field(False, validation_alias=AliasChoices("TRACES_CONSOLE"))

    @model_validator(mode="after")
    def _ops_endpoints_closed_in_production(self) -> ServiceSettings:
        if self.ops_endpoints_public is None:
            self.ops_endpoints_public = self.environment != "production"
        return self

    @model_validator(mode="after")
    def _no_placeholders_in_production(self) -> ServiceSettings:
        """A value copied from an example file unchanged (`CHANGE…`) stops a production start."""
        if self.environment == "production":
            placeholders = sorted(
                name
                for name, value in self.__dict__.items()
                if isinstance(value, str) and PLACEHOLDER.search(value)
            )
            if placeholders:
                raise ValueError(
                    "生产环境不能使用示例占位值 Placeholder values (CHANGE…) in production: "
                    + ", ".join(placeholders)
                )
        return self

    @model_validator(mode="after")
    def _default_database(self) -> ServiceSettings:
        if not self.database_url:
            self.database_url = with_database(
                self.server_database_url, f"jiesu_{self.service_name}"
            )
        return self


DEV_KEY_PREFIX = "dev-key-"  # the fixed keys each service creates in development
DEV_SECRET_PREFIX = "dev-only-"  # the development defaults of a service's secrets


class DevKeys(BaseModel):
    """Development keys and secrets, which production refuses: outside production, fixed
    `dev-key-*` keys exist so curl examples work, and secrets default to `dev-only-…` values.

    A service lists in `dev_defaults` its settings whose default only development may keep,
    each with what production needs instead. Mixed in before ServiceSettings, whose checks run
    first."""

    dev_defaults: ClassVar[dict[str, str]] = {}

    dev_keys: bool | None = None  # default: on in development, off in production
    dev_key_rate_per_minute: int = 6000

    if TYPE_CHECKING:  # ServiceSettings' fields
        service_name: str
        environment: Environment

    @model_validator(mode="after")
    def _no_dev_keys_in_production(self) -> Self:
        variable = f"{self.service_name.upper()}_"
        if self.environment != "production":
            if self.dev_keys is None:
                self.dev_keys = True
            return self
        if self.dev_keys:
            raise ValueError(f"{variable}DEV_KEYS must be false in production")
        self.dev_keys = False
        for name, needed in self.dev_defaults.items():
            if getattr(self, name).startswith((DEV_SECRET_PREFIX, DEV_KEY_PREFIX)):
                raise ValueError(f"{variable}{name.upper()} {needed}")
        return self
