"""What every service process runs beside its routes: pool, schema, topics, relay, faust agents, workers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg
import faust
import uvicorn
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from shared import telemetry
from shared.answers import declare_problems
from shared.apikeys import ANY_KEY, PUBLIC, KeyCache, KeyFirst, declare_audiences
from shared.asyncapi import names as asyncapi_names
from shared.asyncapi_page import asyncapi_router
from shared.consumer import (
    BatchConsumer,
    BatchHandler,
    Handler,
    IdempotentConsumer,
    KafkaDeadLetters,
    Prepare,
)
from shared.db import Connection, apply_schema, create_pool, ensure_database, wal_flushed
from shared.events import Event
from shared.eventstore import SCHEMA as EVENTSTORE_SCHEMA
from shared.eventstore import EventStore
from shared.faust_engine import attach_consumer, make_faust_app
from shared.http import (
    BodyLimit,
    HttpMetrics,
    Refusal,
    RefuseNul,
    install_problem_handlers,
    metrics_response,
    problem_refusal,
)
from shared.kafka import ensure_topics, make_producer
from shared.ratelimit import RateLimiter
from shared.relay import OutboxRelay
from shared.settings import ServiceSettings
from shared.topics import consumer_group
from shared.waits import woken

log = logging.getLogger(__name__)

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
AppT = TypeVar("AppT")

Worker = Callable[["ServiceRuntime[Any, Any]"], Awaitable[None]]
# Sets gauges from the database when /metrics is asked for (what no loop of the service reads
# anyway): one statement a scrape, never one per request or record.
Sampler = Callable[[Connection], Awaitable[None]]
SAMPLE_EVERY_S = 1.0  # scrapes closer together get the gauges as the last one set them


class Health(BaseModel):
    """What `/healthz` answers: the process is alive."""

    status: str  # "ok"
    service: str


class Readiness(BaseModel):
    """What `/readyz` answers: ready when every check passed (200), else 503."""

    status: str  # "ready" | "not ready"
    checks: dict[str, bool]


class ServiceRuntime(Generic[SettingsT, AppT]):
    """One service process: typed `settings`, the service's application object `app` (what its
    routes, handlers and workers share: set by its main.py once built), the key cache and the
    rate limiter of its doors, and the machinery below (pool, relay, consumer, workers)."""

    def __init__(
        self,
        settings: SettingsT,
        *,
        keys: KeyCache[Any] | None = None,
        schema: Sequence[Path] = (),
        publishes: str | None = None,
        consumes: Sequence[str] = (),
        handlers: Mapping[type[Event], Handler] | None = None,
        batch_handler: BatchHandler | None = None,
        prepare: Prepare | None = None,
        workers: Mapping[str, Worker] | None = None,
        on_start: Sequence[Worker] = (),
        on_stop: Sequence[Worker] = (),
        samplers: Sequence[Sampler] = (),
        rebuildable: bool = False,
        store: EventStore | None = None,
    ) -> None:
        """`store`: the service's event store, if not a plain one (intake's opens sealed
        filings as it reads them). `rebuildable`: the database holds only what can be rebuilt from the event stores
        (reporting's read models and inbox). Its commits then do not wait for the disk, and the
        consumer's offsets wait for the WAL flush instead (faust commits offsets on its own,
        so on that engine the commits wait as everywhere else)."""
        self.settings: SettingsT = settings
        self.name = settings.service_name
        self.keys: KeyCache[Any] = keys or KeyCache(_no_keys)
        self.limiter = RateLimiter.from_uri(settings.rate_limit_storage)
        self._app: AppT | None = None
        self.schema = list(schema)
        self.publishes = publishes
        self.consumes = list(consumes)
        self.handlers = dict(handlers or {})
        self.batch_handler = batch_handler
        self.prepare = prepare
        self.workers = dict(workers or {})
        self.on_start = list(on_start)
        self.on_stop = list(on_stop)
        self.samplers = list(samplers)
        self._sampled_at = -SAMPLE_EVERY_S
        self._sampling = asyncio.Lock()
        self.rebuildable = rebuildable and settings.kafka_consumer_engine != "faust"
        self.store = store or EventStore(source=f"/jiesu/{self.name}")
        self.relay: OutboxRelay | None = None
        self.faust_app: faust.App | None = None
        self.batches: BatchConsumer | None = None
        self.consumer: IdempotentConsumer | None = None
        self._pool: asyncpg.Pool | None = None
        self._dlq_producer: Any = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def app(self) -> AppT:
        if self._app is None:
            raise RuntimeError(f"{self.name} has no application object")
        return self._app

    @app.setter
    def app(self, app: AppT) -> None:
        self._app = app

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{self.name} runtime is not started")
        return self._pool

    async def start(self) -> None:
        settings = self.settings
        await ensure_database(settings.database_url)
        self._pool = await create_pool(
            settings.database_url,
            max_size=settings.db_pool_size,
            wait_for_disk=not self.rebuildable,
        )
        await apply_schema(self._pool, EVENTSTORE_SCHEMA, *self.schema)
        for prepare in self.on_start:
            await prepare(self)
        # Before any client of ours asks for metadata: the embedded broker would otherwise
        # auto-create a topic with its own partition count.
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            replication_factor=settings.kafka_replication_factor,
        )
        if self.publishes:
            self.relay = OutboxRelay(
                name=f"{self.name}-relay",
                pool=self._pool,
                store=self.store,
                topic=self.publishes,
                settings=settings,
            )
            self._spawn("relay", self.relay.run)
        if self.consumes:
            self._dlq_producer = make_producer(settings)
            await self._dlq_producer.start()
            self.consumer = IdempotentConsumer(
                name=self.name,
                pool=self._pool,
                store=self.store,
                handlers=self.handlers,
                batch_handler=self.batch_handler,
                prepare=self.prepare,
                dead_letters=KafkaDeadLetters(self._dlq_producer),
                max_attempts=settings.consumer_max_attempts,
                backoff_initial_s=settings.consumer_backoff_initial_s,
                backoff_max_s=settings.consumer_backoff_max_s,
            )
            if settings.kafka_consumer_engine == "faust":
                self.faust_app = make_faust_app(consumer_group(self.name), settings)
                attach_consumer(self.faust_app, self.consumer, self.consumes)
                await self.faust_app.start()
            else:
                pool = self._pool
                self.batches = BatchConsumer(
                    self.consumer,
                    self.consumes,
                    settings,
                    group_id=consumer_group(self.name),
                    durable=(lambda: wal_flushed(pool)) if self.rebuildable else None,
                )
                await self.batches.start()
        for name, worker in self.workers.items():
            self._spawn(name, functools.partial(worker, self))
        log.info(
            "%s started: publishes %s, consumes %s",
            self.name,
            self.publishes or "nothing",
            ", ".join(self.consumes) or "nothing",
        )

    def _spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        async def supervised() -> None:
            while True:
                try:
                    await run()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("%s: %s crashed; restarting in 1s", self.name, name)
                    await asyncio.sleep(1.0)

        self._tasks.append(asyncio.create_task(supervised(), name=f"{self.name}:{name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.faust_app is not None:
            await self.faust_app.stop()
        if self.batches is not None:
            await self.batches.stop()
            self.batches = None
        if self._dlq_producer is not None:
            await self._dlq_producer.stop()
        for release in self.on_stop:  # what the service opened beside the pool
            await release(self)
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def readiness(self) -> dict[str, bool]:
        checks: dict[str, bool] = {}
        try:
            async with self.pool.acquire(timeout=2) as conn:
                checks["database"] = await conn.fetchval("SELECT true", timeout=2)
        except Exception:
            checks["database"] = False
        if self.relay is not None:
            checks["broker"] = self.relay.connected or self.relay.standby
        if self.faust_app is not None:
            consumer = self.faust_app.consumer
            checks["consumer_assigned"] = bool(consumer.assignment()) and not (
                self.faust_app.rebalancing
            )
        if self.batches is not None:
            checks["consumer_assigned"] = self.batches.assigned()
        return checks

    async def sample(self) -> None:
        """Run the samplers (the relay's, the service's) before a scrape, at most once a
        second. A database that does not answer leaves the gauges as they were: the scrape
        still answers, and the stale figures are the alarm's to notice."""
        samplers = [*self.samplers, *([self.relay.sample] if self.relay is not None else [])]
        if not samplers or self._pool is None:
            return
        async with self._sampling:
            if time.monotonic() - self._sampled_at < SAMPLE_EVERY_S:
                return
            try:
                async with self.pool.acquire(timeout=2) as conn:
                    for sampler in samplers:
                        await sampler(conn)
            except Exception as error:
                log.warning("%s: metrics not sampled (%r)", self.name, error)
            self._sampled_at = time.monotonic()

    @asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()


async def _no_keys(_: Connection, __: str) -> None:
    """A runtime built without a key table (tests, the null pipeline) knows no key."""
    return None


def ops_router(runtime: ServiceRuntime[Any, Any], door: Any) -> APIRouter:
    """Liveness and readiness for anyone (probes carry no key); metrics behind `door`."""
    router = APIRouter(tags=["运维 Operations"])

    @router.get("/healthz", summary="进程存活 Liveness", dependencies=[PUBLIC])
    async def healthz() -> Health:
        return Health(status="ok", service=runtime.name)

    @router.get(
        "/readyz",
        summary="就绪检查 Readiness (DB, broker, consumer assignment)",
        dependencies=[PUBLIC],
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "未就绪 Not ready"}},
    )
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @router.get(
        "/metrics",
        summary="Prometheus 指标 Metrics",
        response_class=Response,
        responses={
            200: {
                "description": "Prometheus 文本格式 The Prometheus text format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
        dependencies=[door],
    )
    async def metrics() -> Response:
        await runtime.sample()
        return metrics_response()

    return router


def keyed_documents(app: FastAPI) -> APIRouter:
    """/openapi.json, /docs and /redoc for callers with any of the service's keys."""
    router = APIRouter(include_in_schema=False, dependencies=[ANY_KEY])

    @router.get("/openapi.json")
    async def document() -> JSONResponse:
        return JSONResponse(app.openapi())

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title)

    @router.get("/redoc")
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=app.title)

    return router


def create_service_app(
    runtime: ServiceRuntime[Any, Any],
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    refuse: Refusal = problem_refusal,
    asyncapi: dict[str, str] | None = None,
) -> FastAPI:
    """The service's HTTP app. Every route must declare its audience (UndeclaredAudience
    otherwise). A request passes, outermost first: the body limit (413), the key check of a
    keyed route that carries a body (401 before the body is read), the check for what Postgres
    cannot store (422), the route. `refuse` words these refusals (Open311 has its own)."""
    public_ops = bool(runtime.settings.ops_endpoints_public)
    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=runtime.lifespan,
        # Closed: the same documents, served below behind a key.
        openapi_url="/openapi.json" if public_ops else None,
        docs_url="/docs" if public_ops else None,
        redoc_url="/redoc" if public_ops else None,
        telemetry=telemetry.FASTAPI_TELEMETRY_OFF,  # TraceRequests instead
    )
    app.state.runtime = runtime
    install_problem_handlers(app)
    app.include_router(ops_router(runtime, PUBLIC if public_ops else ANY_KEY))
    if not public_ops:
        app.include_router(keyed_documents(app))
    documents = asyncapi if asyncapi is not None else {"/asyncapi": runtime.name}
    documents = {path: name for path, name in documents.items() if name in asyncapi_names()}
    app.include_router(asyncapi_router(documents, PUBLIC if public_ops else ANY_KEY))
    for router in routers:
        app.include_router(router)
    audiences = declare_audiences(app)
    declare_problems(app, audiences)
    app.add_middleware(RefuseNul, refuse=refuse)  # reads the whole body: inside the two below
    app.add_middleware(KeyFirst, routes=audiences)
    app.add_middleware(BodyLimit, limit=runtime.settings.max_body_bytes, refuse=refuse)
    if runtime.settings.http_metrics:
        app.add_middleware(HttpMetrics)  # refusals are counted too
    app.add_middleware(telemetry.TraceRequests)  # outermost: the span covers every refusal
    return app


class QuietServer(uvicorn.Server):
    """uvicorn's server, waking once a second at rest instead of ten times.

    uvicorn's main loop sleeps 0.1 s between looks at its exit flag and renews the Date header
    every tenth look. Here the loop looks when the wall clock's second (and so the Date header)
    changes, and setting `should_exit` (a stop signal, or a test's server) wakes it at once, so
    stopping is no slower."""

    tick_s = 1.0  # the Date header's resolution
    _should_exit = False
    _wake: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    @property
    def should_exit(self) -> bool:
        return self._should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._should_exit = value
        if value and self._wake is not None:
            loop, event = self._wake
            # A signal handler may set it between two steps of the loop: wake it safely.
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(event.set)

    async def main_loop(self) -> None:
        self._wake = (asyncio.get_running_loop(), asyncio.Event())
        try:
            # on_tick renews the Date header when its counter is a multiple of 10: every look.
            while not await self.on_tick(0):
                await woken(self._wake[1], self._until_next_tick())
        finally:
            self._wake = None

    def _until_next_tick(self) -> float:
        """Until just past the wall clock's next whole tick (second: the Date header changes)."""
        return self.tick_s - time.time() % self.tick_s + 0.001


def http_server(app: FastAPI, port: int | None = None) -> uvicorn.Server:
    """The service's HTTP server. A client's address comes from the connection, or from
    X-Forwarded-For only when the connection comes from one of TRUSTED_PROXIES (by default
    none: a header anyone can write must not choose whose rate limit a request counts to)."""
    settings: ServiceSettings = app.state.runtime.settings
    trusted = settings.trusted_proxies.strip()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port if port is None else port,
        log_level="warning",
        log_config=None,  # its loggers go to the root's handler: JSON lines like the rest
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        # Without it uvicorn waits for open connections for ever: a live stream's client that
        # stays would hold the stop (and the lifespan's stop of the runtime) indefinitely.
        timeout_graceful_shutdown=settings.shutdown_grace_s,
    )
    return QuietServer(config)


def serve(app: FastAPI) -> None:
    """Run the service's HTTP server until it is stopped."""
    http_server(app).run()


def configure_logging(settings: ServiceSettings) -> None:
    """The process's logs (JSON lines unless LOG_FORMAT=text) and traces (see shared.telemetry)."""
    telemetry.configure(settings)
