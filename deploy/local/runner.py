"""Runs the whole platform on one machine and keeps it running until Ctrl-C or `down`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deploy.local.processes import (
    Child,
    embedded_postgres,
    tansu_broker,
    wait_for_port_free,
    wait_for_port_open,
    wait_for_postgres,
)
from shared.db import ensure_database, with_database
from shared.kafka import ensure_topics
from shared.waits import woken

log = logging.getLogger("jiesu.runner")

SERVICES = ("intake", "dispatch", "notify", "reporting")
# Workers after a service's first: <service>-<n> on WORKER_PORT_BASE + 10 * (the service's
# place in SERVICES) + n - 1, e.g. dispatch-2 on 8111, notify-3 on 8122, reporting-2 on 8131;
# the first keeps the service's own port (8001-8004), so every URL in the README stays right.
WORKER_PORT_BASE = 8100
MAX_WORKERS = 10
# A worker that ran this long before it died is restarted at once again (no backoff).
STEADY_AFTER_S = 30.0
DEMO_CITY = Path(__file__).with_name("demo_city.yaml")
DEMO_DIRECTORY = Path(__file__).with_name("demo_directory.yaml")
SINK_SECRET = "whsec_ZGV2LW9ubHktbG9jYWwtc2luay1zZWNyZXQ="  # base64("dev-only-local-sink-secret")
GATEWAY_KEY = "dev-only-local-gateway-key"
# What the local sink subscribes to as a downstream system would (the webhook channel).
SINK_EVENTS = ["CaseResolved", "SlaBreached", "CaseEscalated", "ComplaintClosed"]


@dataclass
class StackConfig:
    state_dir: Path = Path(".run")
    database_url: str | None = None  # a server to use instead of the embedded one
    kafka_bootstrap: str | None = None  # a broker to use instead of the embedded one
    pg_port: int = 55432
    broker_port: int = 9092
    port_base: int = 8001
    sink_port: int = 8009
    smtp_port: int = 8025
    db_prefix: str = "jiesu"
    seed: bool = True
    durable: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    # Processes per service (default 1 each): they share their topics' partitions in one
    # consumer group, elect one relay per store, and share timers and deliveries.
    workers: dict[str, int] = field(default_factory=dict)
    worker_port_base: int = WORKER_PORT_BASE

    @classmethod
    def from_environment(cls, **overrides: object) -> StackConfig:
        config = cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            kafka_bootstrap=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
        )
        for name, value in overrides.items():
            if value is not None:
                setattr(config, name, value)
        return config

    def port(self, worker: str) -> int:
        """A worker's HTTP port: `intake` (a service's first worker) or `dispatch-2`."""
        service, number = service_of(worker), worker_number(worker)
        if number == 1:
            return self.port_base + SERVICES.index(service)
        return self.worker_port_base + 10 * SERVICES.index(service) + number - 1

    def worker_names(self, service: str) -> list[str]:
        count = self.workers.get(service, 1)
        return [service, *(f"{service}-{n}" for n in range(2, count + 1))]

    def all_workers(self) -> list[str]:
        return [name for service in SERVICES for name in self.worker_names(service)]

    @property
    def state_file(self) -> Path:
        return self.state_dir / "stack.json"


def service_of(worker: str) -> str:
    return worker.partition("-")[0]


def worker_number(worker: str) -> int:
    _, _, number = worker.partition("-")
    return int(number) if number else 1


def parse_workers(text: str) -> dict[str, int]:
    """`dispatch=3,notify=3,reporting=2` as {service: processes}."""
    workers: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        service, _, count = part.partition("=")
        service = service.strip()
        if service not in SERVICES or not count.strip().isdigit():
            raise ValueError(
                f"--workers {part!r}: 应为 服务=数量 expected service=count, "
                f"service one of {', '.join(SERVICES)}"
            )
        if not 1 <= int(count) <= MAX_WORKERS:
            raise ValueError(f"--workers {part!r}: 1 to {MAX_WORKERS} workers per service")
        workers[service] = int(count)
    return workers


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.logs = config.state_dir / "logs"
        self.traces = config.state_dir / "traces"
        self.postgres: Child | None = None
        self.broker: Child | None = None
        self.sink: Child | None = None
        self.services: dict[str, Child] = {}
        self.server_url = config.database_url or (
            f"postgresql://postgres@127.0.0.1:{config.pg_port}/postgres"
        )
        self.bootstrap = config.kafka_bootstrap or f"127.0.0.1:{config.broker_port}"
        self.broker_restarts = 0
        # Restarts by worker (`dispatch`, `dispatch-2`, ...).
        self.service_restarts: dict[str, int] = dict.fromkeys(config.all_workers(), 0)
        self.ready = False

    # -- starting -------------------------------------------------------------------------

    async def start(self) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        self._write_state()
        await self._start_postgres()
        for service in SERVICES:
            await ensure_database(self._database_url(service))
        await self._start_broker()
        self._start_sink()
        await self._start_services()
        if self.config.seed:
            await self.seed()
        self.ready = True
        self._write_state()

    async def _start_postgres(self) -> None:
        if self.config.database_url is None:
            log.info("starting embedded Postgres on 127.0.0.1:%d", self.config.pg_port)
            self.postgres = embedded_postgres(
                self.config.state_dir.resolve() / "pgdata",
                self.config.pg_port,
                self.logs / "postgres.log",
                durable=self.config.durable,
            )
            await wait_for_port_free(self.config.pg_port)
            self.postgres.start()
        await wait_for_postgres(self.server_url)

    async def _start_broker(self) -> None:
        if self.config.kafka_bootstrap is None:
            log.info("starting embedded Tansu broker on 127.0.0.1:%d", self.config.broker_port)
            await wait_for_port_free(self.config.broker_port)
            self.broker = tansu_broker(self.config.broker_port, self.logs / "broker.log")
            self.broker.start()
            await wait_for_port_open(self.config.broker_port)
        await ensure_topics(self.bootstrap)

    def _start_sink(self) -> None:
        self.sink = Child(
            "webhook-sink",
            [
                sys.executable,
                "-m",
                "deploy.local.webhook_sink",
                "--port",
                str(self.config.sink_port),
                "--smtp-port",
                str(self.config.smtp_port),
                "--secret",
                SINK_SECRET,
                "--gateway-key",
                GATEWAY_KEY,
                "--log-file",
                str(self.logs / "messages.jsonl"),
            ],
            self.logs / "webhook-sink.log",
        )
        self.sink.start()

    def _database_url(self, service: str) -> str:
        return with_database(self.server_url, f"{self.config.db_prefix}_{service}")

    def _service_env(self, worker: str) -> dict[str, str]:
        service = service_of(worker)
        prefix = service.upper()
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            f"{prefix}_DATABASE_URL": self._database_url(service),
            f"{prefix}_PORT": str(self.config.port(worker)),
            # Spans as OTLP/JSON lines, unless OTEL_EXPORTER_OTLP_ENDPOINT names a collector.
            "TRACES_FILE": str((self.traces / f"{worker}.jsonl").resolve()),
            # Which worker a span came from (its service name is the service's).
            "OTEL_RESOURCE_ATTRIBUTES": ",".join(
                filter(
                    None,
                    [os.environ.get("OTEL_RESOURCE_ATTRIBUTES"), f"service.instance.id={worker}"],
                )
            ),
            "NOTIFY_SMS_GATEWAY_URL": f"http://127.0.0.1:{self.config.sink_port}/sms",
            "NOTIFY_WECHAT_GATEWAY_URL": f"http://127.0.0.1:{self.config.sink_port}/wechat",
            "NOTIFY_SMS_API_KEY": GATEWAY_KEY,
            "NOTIFY_WECHAT_API_KEY": GATEWAY_KEY,
            "NOTIFY_SMTP_PORT": str(self.config.smtp_port),
            "NOTIFY_INTAKE_URL": f"http://127.0.0.1:{self.config.port('intake')}",
            # where reporting fetches the keys that open sealed filings
            "REPORTING_INTAKE_URL": f"http://127.0.0.1:{self.config.port('intake')}",
            # what the operations console reads
            "REPORTING_DISPATCH_URL": f"http://127.0.0.1:{self.config.port('dispatch')}",
            "REPORTING_NOTIFY_URL": f"http://127.0.0.1:{self.config.port('notify')}",
            # the event stores reporting rebuilds from
            **{
                f"REPORTING_{store.upper()}_STORE_URL": self._database_url(store)
                for store in ("intake", "dispatch", "notify")
            },
            **self.config.extra_env,
        }
        env.pop("DATABASE_URL", None)
        return env

    def _service_child(self, worker: str) -> Child:
        return Child(
            worker,
            [sys.executable, "-m", f"services.{service_of(worker)}.main"],
            self.logs / f"{worker}.log",
            env=self._service_env(worker),
        )

    async def _start_services(self) -> None:
        """Every worker of every service at once: two workers of a service starting together
        is what they must survive anyway (schema under an advisory lock, one relay leader)."""
        workers = self.config.all_workers()
        for worker in workers:
            await wait_for_port_free(self.config.port(worker))
            child = self._service_child(worker)
            child.start()
            self.services[worker] = child
        self._write_state()
        await asyncio.gather(*(self.wait_ready(worker) for worker in workers))

    async def wait_ready(self, worker: str, timeout: float = 90.0) -> None:
        url = f"http://127.0.0.1:{self.config.port(worker)}/readyz"
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                child = self.services[worker]
                if not child.alive():
                    raise RuntimeError(f"{worker} exited during start-up; see {child.log_file}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        log.info("%s is ready", worker)
                        return
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{worker} not ready after {timeout:.0f}s; see {child.log_file}"
                    )
                await asyncio.sleep(0.3)

    async def seed(self) -> None:
        """Load the demo city into dispatch (intake follows its areas and categories from
        dispatch's events), the demo directory into notify, and subscribe the local sink as a
        downstream system; then wait until intake has the city."""
        admin_key = os.environ.get("JIESU_ADMIN_KEY", "dev-key-admin")
        headers = {"X-API-Key": admin_key, "content-type": "application/yaml"}
        loads = [
            ("dispatch", "put", "/admin/city", DEMO_CITY.read_bytes(), headers),
            ("notify", "put", "/directory", DEMO_DIRECTORY.read_bytes(), headers),
            (
                "notify",
                "put",
                "/subscriptions/local-sink",
                json.dumps(
                    {
                        "url": f"http://127.0.0.1:{self.config.sink_port}/webhooks",
                        "secret": SINK_SECRET,
                        "event_types": SINK_EVENTS,
                        "description": "本地网关 the local sink",
                    }
                ).encode(),
                {"X-API-Key": admin_key, "content-type": "application/json"},
            ),
        ]
        async with httpx.AsyncClient(timeout=30) as client:
            for service, method, path, body, sent in loads:
                response = await client.request(
                    method,
                    f"http://127.0.0.1:{self.config.port(service)}{path}",
                    content=body,
                    headers=sent,
                )
                response.raise_for_status()
                answer = response.json()
                log.info(
                    "seeded %s %s%s",
                    service,
                    path,
                    f": version {answer['catalogue_version']}"
                    if "catalogue_version" in answer
                    else "",
                )
            await self.wait_for_catalogue(client, admin_key)

    async def wait_for_catalogue(
        self, client: httpx.AsyncClient, admin_key: str, timeout: float = 60.0
    ) -> None:
        """Until intake has followed dispatch's current city model into its catalogue."""
        headers = {"X-API-Key": admin_key}
        base = "http://127.0.0.1:{}/admin/{}"
        wanted = (
            await client.get(base.format(self.config.port("dispatch"), "city"), headers=headers)
        ).json()["catalogue_version"]
        deadline = time.monotonic() + timeout
        while True:
            answer = await client.get(
                base.format(self.config.port("intake"), "catalogue"), headers=headers
            )
            if answer.status_code == 200 and answer.json()["catalogue_version"] >= wanted:
                log.info("intake follows the city model: version %s", wanted)
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"intake has not followed city model version {wanted}")
            await asyncio.sleep(0.3)

    # -- supervising ----------------------------------------------------------------------

    async def supervise(self, stop: asyncio.Event) -> None:
        """Restart what dies. A dead embedded broker comes back empty, so the services are
        stopped first, the topics recreated, then the services started again: their relays
        notice the lost records and re-drive, their inboxes absorb the repeats."""
        backoff = dict.fromkeys(self.services, 0.0)
        # Dead workers and when each may start again: one worker's backoff holds up no other.
        restart_at: dict[str, float] = {}
        while not stop.is_set():
            await woken(stop, 0.5)
            if stop.is_set():
                return
            if self.postgres is not None and not self.postgres.alive():
                log.warning("Postgres exited; restarting it")
                await wait_for_port_free(self.config.pg_port)
                self.postgres.start()
                await wait_for_postgres(self.server_url)
            if self.broker is not None and not self.broker.alive():
                restart_at.clear()  # every worker is started afresh
                await self._recover_broker()
                continue
            for worker, child in self.services.items():
                if child.alive():
                    continue
                if worker not in restart_at:
                    self.service_restarts[worker] += 1
                    if child.uptime() >= STEADY_AFTER_S:
                        backoff[worker] = 0.0  # it ran well before: not a crash loop
                    log.warning(
                        "%s exited (code %s); restarting it in %.1fs",
                        worker,
                        child.process and child.process.returncode,
                        backoff[worker],
                    )
                    restart_at[worker] = time.monotonic() + backoff[worker]
                    backoff[worker] = min(backoff[worker] * 2 or 0.5, 10.0)
                if time.monotonic() < restart_at[worker]:
                    continue
                del restart_at[worker]
                await wait_for_port_free(self.config.port(worker))
                child.start()
                self._write_state()
            if self.sink is not None and not self.sink.alive():
                self.sink.start()

    async def _recover_broker(self) -> None:
        assert self.broker is not None
        self.broker_restarts += 1
        log.warning("the broker exited; it will come back empty. Stopping services first")
        await asyncio.gather(*(child.stop() for child in self.services.values()))
        await self._start_broker()
        self._write_state()
        await self._start_services()
        log.warning("broker and services are back; relays re-drive what the broker lost")

    # -- stopping -------------------------------------------------------------------------

    async def stop(self) -> None:
        await asyncio.gather(*(child.stop() for child in self.services.values()))
        for child in (self.sink, self.broker, self.postgres):
            if child is not None:
                await child.stop(timeout=30)
        with contextlib.suppress(FileNotFoundError):
            self.config.state_file.unlink()

    def _write_state(self) -> None:
        children = {name: child.pid for name, child in self.services.items()}
        for child in (self.postgres, self.broker, self.sink):
            if child is not None:
                children[child.name] = child.pid
        state = {
            "runner_pid": os.getpid(),
            "ready": self.ready,
            "children": children,
            "urls": self.urls(),
            "database_url": self.server_url,
            "databases": {service: self._database_url(service) for service in SERVICES},
            "workers": {service: self.config.worker_names(service) for service in SERVICES},
            "kafka_bootstrap_servers": self.bootstrap,
            "broker_restarts": self.broker_restarts,
            "service_restarts": self.service_restarts,
        }
        tmp = self.config.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.config.state_file)

    def urls(self) -> dict[str, str]:
        """Each service's first worker by the service's name, then the further workers."""
        urls = {w: f"http://127.0.0.1:{self.config.port(w)}" for w in self.config.all_workers()}
        urls = {**{s: urls.pop(s) for s in SERVICES}, **urls}
        urls["webhook-sink"] = f"http://127.0.0.1:{self.config.sink_port}/messages"
        return urls


async def run(config: StackConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stack = Stack(config)
    try:
        starting = asyncio.create_task(stack.start())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return 130
        starting.result()
        print_banner(stack)
        await stack.supervise(stop)
        return 0
    except Exception as error:
        log.error("start-up failed: %s", error)
        return 1
    finally:
        log.info("stopping everything")
        await stack.stop()
        log.info("stopped")


def print_banner(stack: Stack) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Jiesu 接诉 is running · 平台已启动")
    table.add_column("服务 Service")
    table.add_column("URL")
    table.add_column("API docs")
    for name, url in stack.urls().items():
        table.add_row(name, url, f"{url}/docs" if service_of(name) in SERVICES else "")
    console = Console()
    console.print(table)
    reporting = stack.urls()["reporting"]
    console.print(
        f"督办墙 Public board:        {reporting}/wall   (展示屏 display: {reporting}/wall?display=1)"
    )
    console.print(
        f"运维控制台 Ops console:     {reporting}/console   (dev-key-admin / dev-key-supervisor)"
    )
    console.print(
        "开发用密钥 Development keys: dev-key-<channel> (hotline, wechat, app, walk_in, "
        "grid_patrol, property_app, open311), dev-key-staff, dev-key-admin; dispatch also "
        "dev-key-supervisor and dev-key-<unit id> per unit (e.g. dev-key-property-meicheng)"
    )
    console.print(f"Postgres: {stack.server_url}")
    console.print(f"Kafka:    {stack.bootstrap}")
    console.print(f"Logs:     {stack.logs}/")
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        console.print("Traces:   off (OTEL_SDK_DISABLED=true)")
    elif endpoint := os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        console.print(f"Traces:   {endpoint} (OTLP)")
    else:
        console.print(f"Traces:   {stack.traces}/<worker>.jsonl (OTLP JSON lines)")
    console.print("Ctrl-C or `make down` stops everything.  Ctrl-C 或 `make down` 停止全部。")
