"""Intake's operator commands. Run: python -m services.intake.cli COMMAND (or `jiesu COMMAND`)

python -m services.intake.cli classifier evaluate --split heldout   # never tuned on
python -m services.intake.cli classifier evaluate --split cv        # 5-fold on train
python -m services.intake.cli vault rotate

Rotating the contact vault's master key:

1. set INTAKE_VAULT_MASTER_KEY to the new key and put the old one in
   INTAKE_VAULT_PREVIOUS_MASTER_KEYS, and restart intake (contacts still read: each resident's
   data key is opened by whichever master key wrapped it; new ones are wrapped with the new);
2. `vault rotate` wraps every resident's data key with the new key (in batches, resumable;
   nothing is decrypted but the data keys);
3. remove the old key from INTAKE_VAULT_PREVIOUS_MASTER_KEYS.

(API keys: python -m services.intake.auth create | list | revoke.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from services.intake import store
from services.intake.domain.classifier import (
    CATEGORY_TEMPERATURE,
    TYPE_TEMPERATURE,
    Evaluation,
    best_temperatures,
    cross_validate,
    default_classifier,
    evaluate,
    load_examples,
)
from services.intake.settings import IntakeSettings
from shared.db import create_pool

PROG = "python -m services.intake.cli"


# --- the classifier ----------------------------------------------------------------------------


def classifier(args: argparse.Namespace) -> int:
    examples = load_examples()
    train = [e for e in examples if e.split == "train"]
    if args.split == "cv":
        evaluation = cross_validate(train, threshold=args.threshold)
    else:
        chosen = [e for e in examples if e.split == args.split]
        evaluation = evaluate(default_classifier(), chosen, args.threshold)
    _print(evaluation, f"诉求分类 Classifier on {args.split} ({evaluation.total} examples)")
    if args.split == "cv":
        category_t, type_t = best_temperatures(train)
        print(f"CV log-loss-optimal temperatures: category {category_t:g}, type {type_t:g}")
        print(f"temperatures in use: category {CATEGORY_TEMPERATURE:g}, type {TYPE_TEMPERATURE:g}")
    if args.json:
        report = json.dumps(evaluation.as_dict(), ensure_ascii=False, indent=2)
        args.json.write_text(report, encoding="utf-8")
    return 0


def _print(evaluation: Evaluation, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("类别/类型 Label")
    for column in ("n", "正确 correct", "准确率 accuracy"):
        table.add_column(column, justify="right")
    for per in (evaluation.per_category, evaluation.per_type):
        for label, tally in per.items():
            table.add_row(label, str(tally.n), str(tally.correct), f"{tally.accuracy:.1%}")
        table.add_section()
    total, accepted = str(evaluation.total), evaluation.auto_accepted
    table.add_row("类别 category (overall)", total, "", f"{evaluation.category_accuracy:.1%}")
    table.add_row("类型 type (overall)", total, "", f"{evaluation.type_accuracy:.1%}")
    table.add_row(
        f"自动受理 auto-accepted (≥{evaluation.threshold:g})",
        f"{accepted.n} ({evaluation.coverage:.0%})",
        str(accepted.correct),
        f"{accepted.accuracy:.1%}",
    )
    Console().print(table)


# --- the contact vault -------------------------------------------------------------------------


async def rotate(settings: IntakeSettings) -> int:
    pool = await create_pool(settings.database_url, max_size=1)
    try:
        async with pool.acquire() as conn:
            total = await store.count_resident_keys(conn)
            with Progress(
                TextColumn("重新包装 rewrapping"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                disable=not sys.stderr.isatty(),
            ) as progress:
                task = progress.add_task("rotate", total=total)
                return await store.rewrap_resident_keys(
                    conn, settings.master_keys, advance=lambda n: progress.advance(task, n)
                )
    finally:
        await pool.close()


def vault(_: argparse.Namespace) -> int:
    count = asyncio.run(rotate(IntakeSettings()))
    print(f"rewrapped {count} resident keys with the current master key")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog=PROG,
        description="诉求受理的运维命令 Intake's operator commands.",
        epilog="API keys 密钥: jiesu keys intake create | list | revoke",
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    classifying = commands.add_parser(
        "classifier",
        help="评估诉求自动分类 evaluate the classifier",
        description="评估诉求自动分类 Evaluate the classifier.",
    )
    classifying.set_defaults(run=classifier)
    actions = classifying.add_subparsers(dest="classifier", required=True, metavar="evaluate")
    evaluating = actions.add_parser(
        "evaluate",
        help="在一个划分上评估 on one split of the labelled set",
        description="在标注集的一个划分上评估 Evaluate on one split of the labelled set.",
    )
    evaluating.add_argument("--split", choices=["heldout", "train", "cv"], default="heldout")
    evaluating.add_argument("--threshold", type=float, default=0.6)
    evaluating.add_argument("--json", type=Path)

    vaulting = commands.add_parser(
        "vault",
        help="联系方式保险库 the contact vault",
        description="联系方式保险库 The contact vault.",
    )
    vaulting.set_defaults(run=vault)
    actions = vaulting.add_subparsers(dest="vault", required=True, metavar="rotate")
    actions.add_parser(
        "rotate",
        help="用当前主密钥重新包装每位居民的密钥 rewrap every resident's key with the current "
        "master key",
        description="用当前主密钥重新包装每位居民的密钥 Rewrap every resident's key with the "
        "current master key.",
    )
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
