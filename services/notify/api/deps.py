"""What notify's routes take: the caller's key by role, the database pool, the event store,
the settings and the live feed."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from services.notify.app import NotifyRuntime
from services.notify.auth import ApiKey, Role, require
from services.notify.live import LiveFeed
from services.notify.settings import NotifySettings
from shared.eventstore import EventStore

OpsKey = Annotated[ApiKey, require(Role.OPS)]
AdminKey = Annotated[ApiKey, require()]
# An admin, or a subscriber managing its own subscriptions.
SubscriberKey = Annotated[ApiKey, require(Role.SUBSCRIBER)]
# Staff of an area posting notices to its residents (区域通知).
StaffKey = Annotated[ApiKey, require(Role.STAFF)]
# Who may follow a notice's delivery: its area's staff, ops (and admin).
NoticeReader = Annotated[ApiKey, require(Role.STAFF, Role.OPS)]


def _runtime(request: Request) -> NotifyRuntime:
    runtime: NotifyRuntime = request.app.state.runtime
    return runtime


def _pool(request: Request) -> asyncpg.Pool:
    return _runtime(request).pool


def _events(request: Request) -> EventStore:
    return _runtime(request).store


def _settings(request: Request) -> NotifySettings:
    return _runtime(request).settings


def _feed(request: Request) -> LiveFeed:
    return _runtime(request).app.live


Pool = Annotated[asyncpg.Pool, Depends(_pool)]
Events = Annotated[EventStore, Depends(_events)]
Settings = Annotated[NotifySettings, Depends(_settings)]
Feed = Annotated[LiveFeed, Depends(_feed)]
