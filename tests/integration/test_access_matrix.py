"""The authorization matrix, generated from the services' own OpenAPI documents.

For every operation of every service and every caller (no key, an unknown key, and a key of
each of the service's roles) the answer is the one the operation's `x-audience` declares:
a public operation lets everyone through; any other answers 401 without a key or with an
unknown one, 403 naming its audience to a role outside it, and lets a role inside it through
(whatever the operation then says of the made-up ids and empty bodies it is sent: 404, 422…,
but never 401, nor the role's 403). Operations that read their key from the body (Open311's
`api_key`) answer 403 in Open311's words to a missing or unknown key.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from deploy.local.processes import free_ports, tansu_broker, wait_for_port_open
from services.intake.main import create_app as create_intake_app
from services.intake.settings import IntakeSettings
from services.reporting import auth as reporting_auth
from services.reporting.main import create_app as create_reporting_app
from services.reporting.settings import ReportingSettings
from shared.db import connect, drop_database, with_database
from tests.integration.conftest import (
    BROKER_STOP_S,
    FAST,
    DispatchServer,
    NotifyServer,
    load_demo_catalogue,
    serving,
)

pytestmark = pytest.mark.integration

UNKNOWN = "js_not-a-key-of-ours"
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class Door:
    service: str
    url: str
    keys: dict[str, str]  # role → a key of that role
    results: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
async def own_services(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, str]]:
    """A fresh intake and reporting on a broker of their own (the matrix sends them empty
    bodies and made-up ids; no other test's service should hear of it). Returns their URLs."""
    broker_port, intake_port, reporting_port = free_ports(3)
    broker = tansu_broker(broker_port, tmp_path_factory.mktemp("matrix-broker") / "broker.log")
    broker.start()
    await wait_for_port_open(broker_port)
    bootstrap = f"127.0.0.1:{broker_port}"
    intake_db = with_database(pg_server_url, f"t_matrix_intake_{uuid.uuid4().hex[:8]}")
    reporting_db = with_database(pg_server_url, f"t_matrix_reporting_{uuid.uuid4().hex[:8]}")
    intake = create_intake_app(
        IntakeSettings(
            database_url=intake_db, kafka_bootstrap_servers=bootstrap, port=intake_port, **FAST
        )
    )
    reporting = create_reporting_app(
        ReportingSettings(
            database_url=reporting_db,
            kafka_bootstrap_servers=bootstrap,
            port=reporting_port,
            **FAST,
        )
    )
    async with serving(intake, intake_port) as intake_url:
        await load_demo_catalogue(intake_url, bootstrap)
        async with serving(reporting, reporting_port) as reporting_url:
            conn = await connect(reporting_db)
            try:
                _, staff = await reporting_auth.KEYS.create(
                    conn,
                    name="榆山街道工作人员",
                    role=reporting_auth.Role.STAFF,
                    scope="370124001000",
                )
            finally:
                await conn.close()
            yield {"intake": intake_url, "reporting": reporting_url, "reporting-staff": staff}
    await broker.stop(timeout=BROKER_STOP_S)
    await drop_database(intake_db)
    await drop_database(reporting_db)


@pytest.fixture(scope="module")
def doors(
    own_services: dict[str, str], dispatch_server: DispatchServer, notify_server: NotifyServer
) -> list[Door]:
    return [
        Door(
            "intake",
            own_services["intake"],
            {
                "channel": "dev-key-open311",
                "staff": "dev-key-staff",
                "notify": "dev-key-notify",
                "reporting": "dev-key-reporting",
                "sms_gateway": "dev-key-sms_gateway",
                "admin": "dev-key-admin",
            },
        ),
        Door(
            "dispatch",
            dispatch_server.url,
            {
                "responder": "dev-key-property-meicheng",
                "supervisor": "dev-key-supervisor",
                "admin": "dev-key-admin",
            },
        ),
        Door(
            "notify",
            notify_server.url,
            {
                "ops": "dev-key-ops",
                "subscriber": "dev-key-subscriber",
                "staff": "dev-key-staff",
                "admin": "dev-key-admin",
            },
        ),
        Door(
            "reporting",
            own_services["reporting"],
            {
                "staff": own_services["reporting-staff"],
                "supervisor": "dev-key-supervisor",
                "admin": "dev-key-admin",
            },
        ),
    ]


def concrete(path: str) -> str:
    """The path with made-up values for its parameters (Open311's `{fmt}` is json)."""
    parts = []
    for part in path.split("/"):
        if "{fmt}" in part:
            part = part.replace("{fmt}", "json")
        if "{" in part:
            part = part[: part.index("{")] + str(uuid.uuid4()) + part[part.index("}") + 1 :]
        parts.append(part)
    return "/".join(parts)


async def ask(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> httpx.Response:
    """The answer, its body read unless it is a stream that never ends (notify's live feed)."""
    body = {"json": {}} if method in ("post", "put", "patch") else {}
    async with client.stream(method.upper(), path, headers=headers, **body) as response:
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            await response.aread()
    return response


def verdict(response: httpx.Response) -> str:
    """What the answer means for access: refused unauthenticated, refused for the role, or let in."""
    if response.status_code == 401:
        return "401"
    if response.status_code == 403:
        body = response.json() if "json" in response.headers.get("content-type", "") else {}
        if isinstance(body, dict) and "audience" in body:
            return "403-role"
        if isinstance(body, list):  # Open311's error array
            return "403-open311"
    return "in"


def expected(operation: dict[str, Any], caller: str) -> set[str]:
    audience = operation["x-audience"]
    if "public" in audience:
        return {"in"}
    open311 = operation.get("x-key-in") == "body"  # refusals in Open311's words: always 403
    if caller in ("no key", "unknown key"):
        return {"403-open311"} if open311 else {"401"}
    if caller in audience or "any-key" in audience:
        return {"in"}
    return {"403-open311"} if open311 else {"403-role"}


async def test_every_operation_answers_every_caller_as_its_audience_says(doors: list[Door]):
    cells = 0
    wrong: list[str] = []
    for door in doors:
        async with httpx.AsyncClient(base_url=door.url, timeout=30) as client:
            document = (await client.get("/openapi.json")).json()
            callers: dict[str, dict[str, str]] = {
                "no key": {},
                "unknown key": {"X-API-Key": UNKNOWN},
                **{role: {"X-API-Key": key} for role, key in door.keys.items()},
            }
            for path, operations in document["paths"].items():
                for method in METHODS:
                    operation = operations.get(method)
                    if operation is None:
                        continue
                    assert "x-audience" in operation, f"{door.service} {method} {path}"
                    unknown_roles = set(operation["x-audience"]) - {"public", "any-key", *door.keys}
                    assert not unknown_roles, f"{door.service} {method} {path}: {unknown_roles}"
                    for caller, headers in callers.items():
                        response = await ask(client, method, concrete(path), headers)
                        assert response.status_code < 500, (
                            f"{door.service} {method.upper()} {path} as {caller}: "
                            f"{response.status_code} {response.text[:300]}"
                        )
                        got, want = verdict(response), expected(operation, caller)
                        cells += 1
                        if got not in want:
                            wrong.append(
                                f"{door.service} {method.upper()} {path} as {caller}: "
                                f"{response.status_code} ({got}), expected {sorted(want)}"
                            )
    print(f"authorization matrix: {cells} cells, {len(wrong)} wrong")
    assert not wrong, "\n".join(wrong)
    assert cells > 400
