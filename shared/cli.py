"""`jiesu`: every operator command of the platform behind one console script.

Each command is a module's own `main()` (the module stays runnable with `python -m` too): the
console script picks the command by its first words and hands the rest of the line to that
`main()` as its arguments. Modules are named here by string and imported only when their
command runs, so `shared` depends on no service and `jiesu --help` starts at once.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Command:
    module: str  # its main() parses sys.argv
    help: str
    prefix: tuple[str, ...] = ()  # words the module's own parser expects first


SERVICES = ("intake", "dispatch", "notify", "reporting")
ROLES_HELP = {
    "intake": "诉求受理的密钥（渠道、工作人员、短信网关、服务） intake's keys (channels, staff, "
    "the SMS gateway, services)",
    "dispatch": "派单的密钥（责任单位、主管） dispatch's keys (responders, supervisors)",
    "notify": "通知的密钥（值班、订阅方） notify's keys (operations, subscribers)",
    "reporting": "统计的密钥（工作人员、主管） reporting's keys (staff, supervisors)",
}

COMMANDS: dict[tuple[str, ...], Command] = {
    **{
        ("keys", service): Command(
            f"services.{service}.auth", f"{ROLES_HELP[service]}: create | list | revoke"
        )
        for service in SERVICES
    },
    ("replay",): Command(
        "services.reporting.cli",
        "重建统计读模型 rebuild reporting's read models from the event stores: list | rebuild",
        ("replay",),
    ),
    ("consistency",): Command(
        "services.reporting.cli",
        "核对读模型与事件存储是否一致 check the read models against the event stores",
        ("consistency",),
    ),
    ("dead-letters", "topics"): Command(
        "shared.dlq",
        "消息总线死信：查看、重投 the Kafka dead-letter topics: list | redrive",
    ),
    ("dead-letters", "deliveries"): Command(
        "services.notify.cli",
        "放弃投递的通知：查看、重投 notify's abandoned deliveries: list | redrive",
        ("dead-letters",),
    ),
    ("classifier",): Command(
        "services.intake.cli",
        "评估诉求自动分类 evaluate the classifier: evaluate --split heldout | train | cv",
        ("classifier",),
    ),
    ("vault",): Command(
        "services.intake.cli",
        "联系方式保险库：轮换主密钥 the contact vault: rotate",
        ("vault",),
    ),
    ("topics",): Command(
        "shared.kafka",
        "创建全部主题（生产环境初始化） create every topic (the production topic-init job)",
    ),
}


def usage() -> str:
    width = max(len(" ".join(words)) for words in COMMANDS)
    lines = [
        "用法 usage: jiesu <命令 command> … [--help]",
        "",
        "接诉即办平台的运维命令 The platform's operator commands:",
        "",
    ]
    for words, command in COMMANDS.items():
        lines.append(f"  {' '.join(words):<{width}}  {command.help}")
    lines += ["", "每条命令的参数见 each command's options: jiesu <命令 command> --help"]
    return "\n".join(lines)


def find(args: Sequence[str]) -> tuple[tuple[str, ...], Command] | None:
    """The command the first words name (the longest match)."""
    for length in sorted({len(words) for words in COMMANDS}, reverse=True):
        words = tuple(args[:length])
        if words in COMMANDS:
            return words, COMMANDS[words]
    return None


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    found = find(args)
    if found is None:
        asked = args[:1] in ([], ["-h"], ["--help"])
        print(usage(), file=sys.stdout if asked else sys.stderr)
        if not asked:
            print(f"\n未知命令 unknown command: {' '.join(args)}", file=sys.stderr)
        raise SystemExit(0 if asked else 2)
    words, command = found
    sys.argv = [f"jiesu {' '.join(words)}", *command.prefix, *args[len(words) :]]
    result = importlib.import_module(command.module).main()
    raise SystemExit(result or 0)


if __name__ == "__main__":
    main()
