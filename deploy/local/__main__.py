"""Local runner CLI. `python -m deploy.local up` runs everything; `down` stops it; `status` shows it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shlex
import signal
import sys
import time
from pathlib import Path

from dotenv import load_dotenv

from deploy.local.runner import WORKER_PORT_BASE, StackConfig, parse_workers, run


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def down(state_dir: Path, timeout: float = 60.0) -> int:
    state_file = state_dir / "stack.json"
    if not state_file.exists():
        print("没有正在运行的平台 Nothing is running (no state file).")
        return 0
    state = json.loads(state_file.read_text())
    runner = state["runner_pid"]
    if _alive(runner):
        os.kill(runner, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(runner) and time.monotonic() < deadline:
            time.sleep(0.2)
    # Whatever the runner could not stop (it was killed, say) is stopped here.
    leftovers = [pid for pid in state["children"].values() if pid and _alive(pid)]
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if _alive(runner):
        with contextlib.suppress(ProcessLookupError):
            os.kill(runner, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        state_file.unlink()
    print(
        "已停止 Stopped." + (f" (killed {len(leftovers)} leftover processes)" if leftovers else "")
    )
    return 0


def status(state_dir: Path) -> int:
    state_file = state_dir / "stack.json"
    if not state_file.exists():
        print("没有正在运行的平台 Nothing is running.")
        return 1
    state = json.loads(state_file.read_text())
    state["alive"] = {name: bool(pid and _alive(pid)) for name, pid in state["children"].items()}
    print(json.dumps(state, indent=2, ensure_ascii=False))
    return 0


def env(state_dir: Path) -> int:
    """The running platform's settings as shell exports, for the command-line tools:
    eval "$(python -m deploy.local env)" and then e.g. python -m services.reporting.cli replay rebuild --all"""
    state_file = state_dir / "stack.json"
    if not state_file.exists():
        print("没有正在运行的平台 Nothing is running: start it with make up.", file=sys.stderr)
        return 1
    state = json.loads(state_file.read_text())
    exports = {
        "DATABASE_URL": state["database_url"],
        "KAFKA_BOOTSTRAP_SERVERS": state["kafka_bootstrap_servers"],
    }
    for service, url in state.get("databases", {}).items():
        exports[f"{service.upper()}_DATABASE_URL"] = url
        if service != "reporting":
            exports[f"REPORTING_{service.upper()}_STORE_URL"] = url
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=Path(".run"))
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start everything and supervise it (foreground)")
    up.add_argument("--no-seed", action="store_true", help="do not load the demo city")
    up.add_argument("--port-base", type=int, help="intake's port; the others follow (default 8001)")
    up.add_argument("--sink-port", type=int, help="the local gateways' HTTP port (default 8009)")
    up.add_argument("--smtp-port", type=int, help="the local SMTP server's port (default 8025)")
    up.add_argument("--broker-port", type=int, help="embedded broker port (default 9092)")
    up.add_argument("--pg-port", type=int, help="embedded Postgres port (default 55432)")
    up.add_argument("--db-prefix", help="service databases are <prefix>_<service> (default jiesu)")
    up.add_argument("--fast-unsafe-db", action="store_true", help="fsync off (tests only)")
    up.add_argument(
        "--workers",
        type=parse_workers,
        help="processes per service, e.g. dispatch=3,notify=3,reporting=2 (default 1 each)",
    )
    up.add_argument(
        "--worker-port-base",
        type=int,
        help=f"further workers' ports: base + 10 * service index + n - 1 (default {WORKER_PORT_BASE})",
    )
    commands.add_parser("down", help="stop everything `up` started")
    commands.add_parser("status", help="what is running")
    commands.add_parser("env", help="the running platform's settings as shell exports")
    args = parser.parse_args()
    if args.command == "env":
        return env(args.state_dir)
    if args.command == "down":
        return down(args.state_dir)
    if args.command == "status":
        return status(args.state_dir)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    load_dotenv(".env", override=False)  # DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS may live there
    config = StackConfig.from_environment(
        state_dir=args.state_dir,
        seed=not args.no_seed,
        port_base=args.port_base,
        sink_port=args.sink_port,
        smtp_port=args.smtp_port,
        broker_port=args.broker_port,
        pg_port=args.pg_port,
        db_prefix=args.db_prefix,
        durable=not args.fast_unsafe_db,
        workers=args.workers,
        worker_port_base=args.worker_port_base,
    )
    return asyncio.run(run(config))


if __name__ == "__main__":
    sys.exit(main())
