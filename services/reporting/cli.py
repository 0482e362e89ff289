"""Reporting's operator commands. Run: python -m services.reporting.cli COMMAND

python -m services.reporting.cli replay rebuild --all          # every read model
python -m services.reporting.cli replay rebuild cases agenda   # just these
python -m services.reporting.cli replay list                   # the models and their last rebuild
python -m services.reporting.cli consistency                   # do the services agree?
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from functools import partial

import asyncpg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from services.reporting import store
from services.reporting.consistency import Report, Sources, check
from services.reporting.projections import MODELS
from services.reporting.rebuild import YOUNG_GC, RebuildRunning, Rebuilt, rebuild
from services.reporting.settings import ReportingSettings
from shared.collector import tune_collector
from shared.db import connect

PROG = "python -m services.reporting.cli"


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} 事件/秒" if speed else "– 事件/秒", style="cyan")


async def _rebuild(
    settings: ReportingSettings, names: list[str], console: Console, workers: int
) -> Rebuilt:
    label = "、".join(names)
    run = partial(
        rebuild,
        settings.database_url,
        settings.store_urls(),
        names,
        batch_size=settings.replay_batch_size,
        workers=workers,
        keys=settings.intake_keys(),
    )
    if console.is_terminal:
        progress = Progress(
            TextColumn(f"重建 {label}"),
            BarColumn(),
            MofNCompleteColumn(),
            _Rate(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        with progress:
            task = progress.add_task("rebuild", total=None)
            return await run(
                on_total=lambda total: progress.update(task, total=total),
                advance=lambda n: progress.advance(task, n),
            )
    # Not a terminal (a log, CI): a line every tenth of the way.
    state = {"total": 0, "done": 0, "next": 0.0, "started": time.perf_counter()}

    def on_total(total: int) -> None:
        state["total"] = total
        console.print(f"重建 {label}：共 {total:,} 个事件 (events in the stores)")

    def advance(n: int) -> None:
        state["done"] += n
        total = state["total"] or 1
        if state["done"] / total >= state["next"]:
            elapsed = time.perf_counter() - state["started"]
            rate = state["done"] / elapsed if elapsed else 0.0
            console.print(
                f"  {state['done']:,}/{state['total']:,} ({state['done'] / total:.0%})  {rate:,.0f} 事件/秒"
            )
            state["next"] += 0.1

    return await run(on_total=on_total, advance=advance)


async def _list(settings: ReportingSettings, console: Console) -> None:
    conn = await connect(settings.database_url)
    try:
        rows = await store.rebuilds(conn)
    except asyncpg.UndefinedTableError:
        rows = {}
    finally:
        await conn.close()
    for model in MODELS.values():
        row = rows.get(model.name)
        when = (
            f"重建于 {row['rebuilt_at']:%Y-%m-%d %H:%M:%S}，{row['events']:,} 个事件，{row['seconds']:.1f} 秒"
            if row and row["rebuilt_at"]
            else "尚未重建 never rebuilt"
        )
        console.print(
            f"{model.name:<10} v{model.version}  {model.label}  [{', '.join(model.tables)}]  {when}"
        )


def replay_list(args: argparse.Namespace) -> int:
    console = Console(stderr=False, highlight=False, soft_wrap=True)
    asyncio.run(_list(ReportingSettings(), console))
    return 0


def replay_rebuild(args: argparse.Namespace) -> int:
    if args.workers is not None and not 1 <= args.workers <= 64:
        print("--workers 须在 1 到 64 之间 must be 1–64", file=sys.stderr)
        return 2
    unknown = [name for name in args.models if name not in MODELS]
    if unknown or not (args.models or args.all):
        args.parser.print_usage(sys.stderr)
        what = (
            f"没有读模型 {', '.join(unknown)} (no such model)"
            if unknown
            else "请指定读模型或 --all"
        )
        print(f"{what}；可选: {', '.join(MODELS)}", file=sys.stderr)
        return 2
    tune_collector(YOUNG_GC)
    console = Console(stderr=False, highlight=False, soft_wrap=True)
    settings = ReportingSettings()
    names = list(MODELS) if args.all else list(dict.fromkeys(args.models))
    workers = args.workers or settings.rebuild_workers()
    try:
        result = asyncio.run(_rebuild(settings, names, console, workers))
    except (OSError, asyncpg.PostgresError, RebuildRunning, RuntimeError) as error:
        print(f"重建失败 rebuild failed: {error}", file=sys.stderr)
        return 1
    console.print(
        f"重建完成 rebuilt {', '.join(result.models)}: {result.events:,} 个事件 events in "
        f"{result.seconds:.1f} s, {result.rate:,.0f} 事件/秒 events/s"
    )
    return 0


def table(report: Report) -> str:
    lines = [f"已比对 checked {report.checked} 件开放诉求 open cases"]
    if not report.drifts:
        return "\n".join([*lines, "无偏差 no drift"])
    lines.append(f"{'kind':<22} {'complaint_id':<36}  detail")
    for d in sorted(report.drifts, key=lambda d: (d.kind, str(d.complaint_id))):
        lines.append(f"{d.kind:<22} {d.complaint_id!s:<36}  {d.detail}")
    counts = ", ".join(f"{k} {n}" for k, n in report.by_kind().items() if n)
    return "\n".join([*lines, f"偏差 drifts: {counts}"])


def consistency(args: argparse.Namespace) -> int:
    """Exit 1 when any drift is found, 2 when the check could not run."""
    settings = ReportingSettings()
    grace_s = settings.consistency_grace_s if args.grace_s is None else args.grace_s
    confirm_after_s = (
        settings.consistency_confirm_after_s
        if args.confirm_after_s is None
        else args.confirm_after_s
    )
    try:
        report = asyncio.run(check(Sources.of(settings), grace_s, confirm_after_s))
    except (OSError, asyncpg.PostgresError) as error:
        print(f"核对失败 check failed: {error}", file=sys.stderr)
        return 2
    print(table(report))
    return 1 if report.drifts else 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog=PROG, description="统计服务的运维命令 Reporting's operator commands."
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    replay = commands.add_parser(
        "replay",
        help="从事件库重建读模型 rebuild read models from the event stores",
        description="从事件库重建读模型 Rebuild read models from the event stores.",
    )
    replays = replay.add_subparsers(dest="replay", required=True, metavar="list|rebuild")
    listing = replays.add_parser(
        "list",
        help="列出读模型及最近一次重建 the models, versions, last rebuild",
        description="列出读模型及最近一次重建 The read models, their versions and last rebuild.",
    )
    listing.set_defaults(run=replay_list)
    rebuilding = replays.add_parser(
        "rebuild",
        help="重建读模型 rebuild read models",
        description="从事件库重建读模型 Rebuild read models from the event stores.",
    )
    rebuilding.add_argument(
        "models", nargs="*", metavar="MODEL", help=f"one of: {', '.join(MODELS)}"
    )
    rebuilding.add_argument("--all", action="store_true", help="every read model 全部读模型")
    rebuilding.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes sharing the work (default REPORTING_REPLAY_WORKERS) 并行进程数",
    )
    rebuilding.set_defaults(run=replay_rebuild, parser=rebuilding)

    checking = commands.add_parser(
        "consistency",
        help="核对各服务对开放诉求的状态与时限 compare every open case across the services",
        description="核对各服务对开放诉求的状态与时限 Compare every open case across the services "
        "(exit 1 when any drift).",
    )
    checking.add_argument(
        "--grace-s",
        type=float,
        default=None,
        help="only cases unchanged for this long 宽限秒数 (default REPORTING_CONSISTENCY_GRACE_S)",
    )
    checking.add_argument(
        "--confirm-after-s",
        type=float,
        default=None,
        help="look again after this pause 复核间隔 (default REPORTING_CONSISTENCY_CONFIRM_AFTER_S)",
    )
    checking.set_defaults(run=consistency)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
