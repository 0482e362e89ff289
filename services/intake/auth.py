"""Who may knock on intake's door: per-channel and staff API keys, and a rate limit per key.

Keys are random secrets shown once; only their SHA-256 is stored. Run
`python -m services.intake.auth create --name 12345热线 --role channel --channel hotline`
to issue one (`--role staff --scope 370124001000` for a street's staff; `--role notify` for the
notification service; `--role reporting` for reporting, which opens sealed filings;
`--role sms_gateway` for the SMS gateway's uplink; `list`, `revoke KEY_ID`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from shared.apikeys import KeyStore, StoredKey
from shared.db import Connection
from shared.events import Channel
from shared.events.area import within


class Role(StrEnum):
    # In alphabetical order: a refusal names the roles it needed in this order.
    ADMIN = "admin"  # 平台管理员: keys
    CHANNEL = "channel"  # 受理渠道: files complaints for its channel, withdraws them
    NOTIFY = "notify"  # 通知服务: reads residents' contacts in batches to send their messages
    REPORTING = "reporting"  # 统计服务: fetches residents' words keys to open sealed filings
    SMS_GATEWAY = "sms_gateway"  # 短信网关: forwards residents' replies (their ratings)
    STAFF = "staff"  # 话务/社区工作人员: triage, merge, call back, close, erasure (in its area)


@dataclass(frozen=True, slots=True)
class ApiKey(StoredKey[Role]):
    """An intake key; a staff key's `scope` is its area (None: the whole city)."""

    channel: Channel | None = None  # a channel key's channel

    def may(self, role: Role) -> bool:
        return KEYS.may(self.role, role)

    def covers(self, area_code: str | None) -> bool:
        """Whether a complaint at `area_code` is this key's to see (a staff key: its area)."""
        return self.role is not Role.STAFF or within(area_code, self.scope)

    def check(self) -> None:
        if self.role is Role.CHANNEL and self.channel is None:
            raise ValueError("a channel key needs its channel")


# Staff can do what a channel does; admin can do everything.
KEYS = KeyStore(
    Role,
    ApiKey,
    admin=Role.ADMIN,
    grants={Role.STAFF: {Role.CHANNEL}},
    columns={"channel": Channel},
)
require = KEYS.require  # a FastAPI dependency: a key allowed to act as one of the roles


async def create_dev_keys(conn: Connection, rate: int) -> None:
    """`dev-key-<channel>` for every channel and `dev-key-<role>` for the other roles."""
    for channel in Channel:
        await KEYS.create_dev_key(conn, Role.CHANNEL, rate, label=channel.value, channel=channel)
    for role in Role:
        if role is not Role.CHANNEL:
            await KEYS.create_dev_key(conn, role, rate)


def main() -> None:
    from services.intake.settings import IntakeSettings

    KEYS.cli(
        "管理接入密钥 Manage intake API keys",
        database_url=lambda: IntakeSettings().database_url,
        schema=Path(__file__).with_name("schema.sql"),
        options={
            "--channel": {"choices": [c.value for c in Channel]},
            "--scope": {"help": "area code a staff key covers (default: the whole city)"},
        },
        listed=lambda row: row["channel"] or row["scope"] or "-",
    )


if __name__ == "__main__":
    main()
