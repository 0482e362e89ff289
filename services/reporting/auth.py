"""Who may read what in reporting: the public board, measures, rankings and hot spots are open
to anyone and hold no resident data; cases (with their text, address, masked phone, ratings
and timeline), their CSV export and the deliberation agendas need a key, and show only the
areas the key covers.

A staff key (社区/街道工作人员) covers one area; a supervisor key (督办: the 12345 centre, a
district or street working committee) covers one area or, without a scope, the whole city; an
admin key covers everything. Run
`python -m services.reporting.auth create --name 榆山街道督办 --role supervisor --scope 370124001000`
to issue one (and `list`, `revoke KEY_ID`); the secret is shown once and only its hash is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from shared.apikeys import KeyStore, StoredKey
from shared.db import Connection

SCHEMA = Path(__file__).with_name("schema") / "access.sql"


class Role(StrEnum):
    STAFF = "staff"  # 社区/街道工作人员: the cases of one area
    SUPERVISOR = "supervisor"  # 督办: an area, or the whole city
    ADMIN = "admin"  # 平台管理员: everything


@dataclass(frozen=True, slots=True)
class ApiKey(StoredKey[Role]):
    """A reporting key; its `scope` is the area it covers (None: the whole city)."""

    @property
    def area(self) -> str | None:
        """The area this key may read (None: everywhere)."""
        return None if self.role is Role.ADMIN else self.scope

    def check(self) -> None:
        if self.role is Role.STAFF and not self.scope:
            raise ValueError("a staff key needs the area it covers (--scope)")


KEYS = KeyStore(Role, ApiKey, admin=Role.ADMIN)
require = KEYS.require  # a FastAPI dependency: a key of one of the roles, or admin

READER = require(Role.STAFF, Role.SUPERVISOR)  # cases, exports, agendas: within the key's area
OPERATOR = require(Role.SUPERVISOR)  # the read models' state


async def create_dev_keys(conn: Connection, rate: int) -> None:
    """`dev-key-admin` and `dev-key-supervisor` (the whole city), for local use only."""
    for role in (Role.ADMIN, Role.SUPERVISOR):
        await KEYS.create_dev_key(conn, role, rate)


def main() -> None:
    from services.reporting.settings import ReportingSettings

    KEYS.cli(
        "管理统计服务密钥 Manage reporting API keys",
        database_url=lambda: ReportingSettings().database_url,
        schema=SCHEMA,
        options={"--scope": {"help": "area code the key covers (default: the whole city)"}},
    )


if __name__ == "__main__":
    main()
