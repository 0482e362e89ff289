"""Who may use notify's API: admin keys manage subscriptions, the directory and dead letters;
ops keys read notifications and watch the live stream; a subscriber key (a downstream system)
manages its own webhook subscriptions, within its area and event types; a staff key (a
community committee, a street office, a compound's property company: `--scope` its area)
posts notices to the residents of its area and follows their delivery. Run
`python -m services.notify.auth create --name 运维大屏 --role ops` to issue one (and `list`,
`revoke KEY_ID`); the secret is shown once and only its hash is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from shared.apikeys import KeyStore, StoredKey
from shared.db import Connection
from shared.events.area import within


class Role(StrEnum):
    OPS = "ops"  # 运维/指挥中心：看通知、看实时流（全市，或一个区域）
    ADMIN = "admin"  # 平台管理员：订阅、通讯录、死信
    SUBSCRIBER = "subscriber"  # 订阅方（下游系统）：只管自己的订阅，限其区域与事件类型
    STAFF = "staff"  # 社区居委会、街道、小区物业：向其区域的居民发布通知，查看送达情况


@dataclass(frozen=True, slots=True)
class ApiKey(StoredKey[Role]):
    """A notify key; an ops, subscriber or staff key's `scope` is its area (None: the whole
    city)."""

    # A subscriber key's event types (None: any it may subscribe to).
    event_types: tuple[str, ...] | None = None

    @property
    def area(self) -> str | None:
        """The area this key may watch (None: everywhere)."""
        return None if self.role is Role.ADMIN else self.scope

    def covers(self, area_code: str | None) -> bool:
        return within(area_code, self.area)

    def allows(self, event_types: list[str]) -> bool:
        """Whether a subscription to `event_types` (none: every type) is within this key's."""
        if self.role is Role.ADMIN or self.event_types is None:
            return True
        return bool(event_types) and set(event_types) <= set(self.event_types)


# A browser's EventSource (the live stream) can only send its key as `?api_key=`.
KEYS = KeyStore(Role, ApiKey, admin=Role.ADMIN, columns={"event_types": tuple}, key_in_query=True)
require = KEYS.require  # a FastAPI dependency: a key of one of the roles, or admin


async def create_dev_keys(conn: Connection, rate: int) -> None:
    """`dev-key-<role>` for every role (development only)."""
    for role in Role:
        await KEYS.create_dev_key(conn, role, rate)


def _event_types(text: str) -> list[str] | None:
    return [t for t in text.split(",") if t] or None


def main() -> None:
    from services.notify.settings import NotifySettings

    KEYS.cli(
        "管理通知服务密钥 Manage notify API keys",
        database_url=lambda: NotifySettings().database_url,
        schema=Path(__file__).with_name("schema.sql"),
        options={
            "--scope": {
                "help": "area code an ops, subscriber or staff key covers (default: the whole city)"
            },
            "--event-types": {
                "type": _event_types,
                "help": "a subscriber key's event types, comma-separated (default: any subscribable)",
            },
        },
        listed=lambda row: (
            (row["scope"] or "-")
            + (f" {','.join(row['event_types'])}" if row["event_types"] else "")
        ),
    )


if __name__ == "__main__":
    main()
