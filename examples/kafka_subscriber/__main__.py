"""Read the platform's topics as a downstream system, knowing only its AsyncAPI document.

    python -m examples.kafka_subscriber --group ext-<org>-<purpose>
    python -m examples.kafka_subscriber --asyncapi http://127.0.0.1:8004/asyncapi.json --json

One line per record on stdout (`--json`: one JSON object per line); progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from .contracts import contracts_of, load_document
from .inbox import Inbox
from .subscriber import Outcome, subscribe

DEFAULT_DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi" / "reporting.json"
PLATFORM_GROUPS = "jiesu-"  # the platform's own consumer groups: never join one


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.kafka_subscriber",
        description="直接订阅主题的示例 A downstream subscriber written against the AsyncAPI document",
    )
    parser.add_argument(
        "--asyncapi",
        default=str(DEFAULT_DOCUMENT),
        help="AsyncAPI 文档的路径或网址 the document: a path or an http(s) URL (default: %(default)s)",
    )
    parser.add_argument(
        "--bootstrap-servers",
        help="Kafka 地址 host:port[,host:port] (default: the document's kafka server)",
    )
    parser.add_argument(
        "--group",
        default="ext-example-subscriber",
        help="自己的消费组 this subscriber's own consumer group, ext-<org>-<purpose> (default: %(default)s)",
    )
    parser.add_argument(
        "--topics",
        help="逗号分隔的主题 comma-separated topics (default: every event topic of the document)",
    )
    parser.add_argument(
        "--from",
        dest="start",
        choices=("earliest", "latest"),
        default="earliest",
        help="新消费组从哪里开始 where a new group starts (default: %(default)s)",
    )
    parser.add_argument(
        "--state",
        default="kafka-subscriber.sqlite3",
        help="已处理事件与案件表的文件 the SQLite file of handled ids and cases (default: %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="每行一个 JSON one JSON object a line")
    args = parser.parse_args(argv)
    if args.group.startswith(PLATFORM_GROUPS):
        parser.error(f"{args.group}: groups named {PLATFORM_GROUPS}* are the platform's own")
    return args


async def run(args: argparse.Namespace) -> None:
    contracts = contracts_of(load_document(args.asyncapi))
    topics = tuple(args.topics.split(",")) if args.topics else contracts.topics
    unknown = set(topics) - set(contracts.topics)
    if unknown:
        raise SystemExit(f"not an event topic of the document: {', '.join(sorted(unknown))}")
    servers = args.bootstrap_servers or ",".join(contracts.servers)
    log = logging.getLogger("kafka_subscriber")
    log.info("%d contracts from %s", len(contracts.by_wire_name), args.asyncapi)

    def report(outcome: Outcome) -> None:
        print(outcome.as_json() if args.json else outcome.as_text(), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    inbox = Inbox(args.state)
    try:
        await subscribe(
            bootstrap_servers=servers,
            group=args.group,
            topics=topics,
            start=args.start,
            contracts=contracts,
            inbox=inbox,
            report=report,
            stop=stop,
        )
    finally:
        inbox.close()
    log.info("stopped")


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
