"""Webhook subscriptions: an admin manages all of them, a subscriber key its own, within its
area and event types."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from services.notify import store, webhook_log
from services.notify.adapters.channels import webhook_targets
from services.notify.api import schemas
from services.notify.api.deps import AdminKey, Pool, Settings, SubscriberKey
from services.notify.api.schemas import SUBSCRIBABLE, Deleted, Subscription, SubscriptionView
from services.notify.auth import ApiKey, Role
from shared.answers import problem
from shared.db import Connection
from shared.eventstore import Horizon
from shared.http import Problem

router = APIRouter(tags=["订阅 Webhook subscriptions"])
NO_SUCH = problem(404, "没有这个订阅（或不是本密钥的）No such subscription, or not this key's")
TOO_MANY = problem(409, "本密钥的订阅已达上限 This key has as many subscriptions as it may")


def _owner(key: ApiKey) -> str | None:
    """Whose subscriptions a key sees and changes: a subscriber its own; an admin all (None)."""
    return key.key_id if key.role is Role.SUBSCRIBER else None


def _within_key(body: Subscription, key: ApiKey) -> Subscription:
    """A subscriber's subscription within its key: its area and types when none are given;
    a 403 for one wider than the key's."""
    if key.role is not Role.SUBSCRIBER:
        return body
    area = body.area_code or key.scope
    types = body.event_types or list(key.event_types or ())
    if not key.covers(area):
        raise Problem(
            403,
            f"订阅区域超出本密钥的区域 {key.scope} The area is outside this key's",
            errors=[{"field": "area_code", "message": f"within {key.scope}"}],
        )
    if not key.allows(types):
        allowed = ", ".join(key.event_types or ())
        raise Problem(
            403,
            f"订阅的事件类型超出本密钥的类型 The event types are beyond this key's: {allowed}",
            errors=[{"field": "event_types", "message": f"among {allowed}"}],
        )
    return body.model_copy(update={"area_code": area, "event_types": types})


async def _put_subscription(
    pool: Pool, settings: Settings, subscription_id: str, body: Subscription, key: ApiKey
) -> SubscriptionView:
    body = _within_key(body, key)
    unknown = body.unknown_types()
    if unknown:
        raise Problem(
            422,
            f"未知的事件类型 Unknown event types: {', '.join(unknown)}",
            errors=[{"field": "event_types", "message": f"one of {', '.join(SUBSCRIBABLE)}"}],
        )
    refusal = await webhook_targets(settings).refusal(str(body.url))
    if refusal is not None:
        raise Problem(422, refusal, errors=[{"field": "url", "message": refusal}])
    owner = _owner(key)
    async with pool.acquire() as conn, conn.transaction():
        if owner is not None:  # a subscriber's: capped (an admin's are not)
            await store.lock_owner(conn, owner)
            held = await store.owned_subscriptions(conn, owner)
            if held >= settings.subscriptions_per_key:
                raise Problem(
                    409,
                    f"本密钥已有 {held} 个订阅，已达上限 {settings.subscriptions_per_key} "
                    f"This key has {held} subscriptions, as many as it may: delete one first",
                )
        # replaced under its id (an admin's PUT re-enables it): a replay of the old one ends
        await webhook_log.cancel_replays(
            conn, subscription_id, "订阅已替换 The subscription was replaced"
        )
        row = await store.put_subscription(
            conn,
            subscription_id,
            str(body.url),
            body.secret or store.new_secret(),
            body.event_types,
            body.area_code,
            body.description,
            owner,
        )
    return schemas.subscription(row, secret=True)


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionView,
    responses=TOO_MANY,
    summary="新建订阅 Subscribe a downstream system (the secret is shown once)",
)
async def create_subscription(
    body: Subscription, pool: Pool, settings: Settings, key: SubscriberKey
) -> SubscriptionView:
    return await _put_subscription(pool, settings, f"sub_{uuid.uuid4().hex[:12]}", body, key)


@router.put(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionView,
    summary="建立或替换订阅 Put a subscription under a chosen id (re-enables it)",
)
async def put_subscription(
    subscription_id: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{1,60}$")],
    body: Subscription,
    pool: Pool,
    settings: Settings,
    key: AdminKey,
) -> SubscriptionView:
    return await _put_subscription(pool, settings, subscription_id, body, key)


@router.get(
    "/subscriptions",
    response_model=schemas.Subscriptions,
    summary="订阅列表（订阅方只见自己的）Subscriptions (a subscriber sees its own)",
)
async def list_subscriptions(pool: Pool, key: SubscriberKey) -> schemas.Subscriptions:
    async with pool.acquire() as conn:
        rows = await store.subscriptions(conn, _owner(key))
    return schemas.subscriptions(rows, [t for t in SUBSCRIBABLE if key.allows([t])])


def _no_such(subscription_id: str) -> Problem:
    return Problem(404, f"没有订阅 {subscription_id} No such subscription")


@router.delete(
    "/subscriptions/{subscription_id}",
    response_model=Deleted,
    responses=NO_SUCH,
    summary="删除订阅（订阅方只能删自己的）Unsubscribe (a subscriber its own only)",
)
async def delete_subscription(subscription_id: str, pool: Pool, key: SubscriberKey) -> Deleted:
    async with pool.acquire() as conn, conn.transaction():
        if not await store.delete_subscription(conn, subscription_id, _owner(key)):
            raise _no_such(subscription_id)
        await webhook_log.cancel_replays(
            conn, subscription_id, "订阅已删除 The subscription was deleted"
        )
    return Deleted(deleted=subscription_id)


_ENDS_REPLAY = {
    "paused": "订阅已暂停 The subscription was paused",
    "active": "订阅已重新启用 The subscription was enabled again",
}


async def _set_status(
    pool: Pool, subscription_id: str, key: ApiKey, status: str, reason: str | None
) -> SubscriptionView:
    """Paused or enabled again: either way a running replay ends (it would otherwise sleep
    through the retry schedule, and hold back the next, for hours)."""
    owner = _owner(key)
    async with pool.acquire() as conn, conn.transaction():
        if not await store.set_subscription_status(conn, subscription_id, status, reason, owner):
            raise _no_such(subscription_id)
        await webhook_log.cancel_replays(conn, subscription_id, _ENDS_REPLAY[status])
        row = await store.subscription(conn, subscription_id, owner)
    assert row is not None
    return schemas.subscription(row)


@router.post(
    "/subscriptions/{subscription_id}/pause",
    response_model=SubscriptionView,
    summary="暂停订阅（订阅方只能停自己的）Pause: nothing is sent until enabled again",
    responses=NO_SUCH,
)
async def pause_subscription(
    subscription_id: str, pool: Pool, key: SubscriberKey
) -> SubscriptionView:
    return await _set_status(pool, subscription_id, key, "paused", f"paused by {key.actor}")


@router.post(
    "/subscriptions/{subscription_id}/enable",
    response_model=SubscriptionView,
    summary="重新启用 Enable again (after a pause, or after the endpoint answered 410 Gone)",
    responses=NO_SUCH,
)
async def enable_subscription(
    subscription_id: str, pool: Pool, key: SubscriberKey
) -> SubscriptionView:
    return await _set_status(pool, subscription_id, key, "active", None)


@router.get(
    "/subscriptions/{subscription_id}/deliveries",
    response_model=schemas.DeliveryLog,
    responses=NO_SUCH,
    summary="投递记录（新的在前）Delivery log: live and replayed webhooks, newest first",
)
async def subscription_deliveries(
    subscription_id: str,
    pool: Pool,
    key: SubscriberKey,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> schemas.DeliveryLog:
    async with pool.acquire() as conn:
        if await store.subscription(conn, subscription_id, _owner(key)) is None:
            raise _no_such(subscription_id)
        rows = await webhook_log.deliveries(conn, subscription_id, limit, offset)
    return schemas.delivery_log(rows, limit, offset)


@router.post(
    "/subscriptions/{subscription_id}/replay",
    status_code=202,
    response_model=schemas.ReplayView,
    responses={
        **NO_SUCH,
        **problem(
            409,
            "已有重发在进行（本订阅的，或本密钥已达上限），或订阅未启用 One is running (this "
            "subscription's, or as many of this key's as it may run), or it is not active",
        ),
        **problem(422, "时间超出保留期，或事件不在日志中 Too old, or no such event"),
    },
    summary="重发错过的事件 Replay: send again, in order, everything since a time or an event",
)
async def replay_subscription(
    subscription_id: str,
    body: schemas.ReplayAsked,
    pool: Pool,
    settings: Settings,
    key: SubscriberKey,
) -> schemas.ReplayView:
    retention = timedelta(days=settings.replay_retention_days)
    if body.since is not None and body.since < datetime.now(UTC) - retention:
        raise Problem(
            422,
            f"只保留 {settings.replay_retention_days:g} 天内的事件 Events are kept "
            f"{settings.replay_retention_days:g} days",
            errors=[
                {"field": "since", "message": f"within {settings.replay_retention_days:g} days"}
            ],
        )
    async with pool.acquire() as conn:
        subscription = await store.subscription(conn, subscription_id, _owner(key))
        if subscription is None:
            raise _no_such(subscription_id)
        if subscription["status"] != "active":
            raise Problem(409, f"订阅未启用 The subscription is {subscription['status']}")
        # The cap first, before any work on the log (and again below, under the owner's lock).
        owner = subscription["owner_key_id"]
        running = await webhook_log.running_replays(conn, subscription_id, owner)
        _refuse_beyond_cap(running, subscription_id, settings.replays_per_key)
        after = 0
        if body.after_event_id is not None:
            found = await webhook_log.position_of(conn, body.after_event_id, subscription)
            if found is None:
                raise Problem(
                    422,
                    "日志中没有本订阅的这个事件 No such event of this subscription's in the log",
                    errors=[{"field": "after_event_id", "message": "not in the log"}],
                )
            after = found
        # Up to what is committed now: an event still being handled goes out live. (Outside
        # a transaction: within one, Postgres shows the transactions in flight as they were
        # at its first look, and the horizon would wait for them for ever.)
        upto = await Horizon(*webhook_log.HORIZON).reach(conn)
        async with conn.transaction():
            # one owner's requests one at a time, so that two cannot both pass the cap
            await webhook_log.lock_replays(conn, owner or f"subscription:{subscription_id}")
            running = await webhook_log.running_replays(conn, subscription_id, owner)
            _refuse_beyond_cap(running, subscription_id, settings.replays_per_key)
            replay = await webhook_log.start_replay(
                conn, uuid.uuid4(), subscription, body.since, body.after_event_id, after, upto
            )
    if replay is None:
        raise Problem(409, "本订阅已有重发在进行 A replay of this subscription is running")
    return schemas.ReplayView.model_validate(replay)


def _refuse_beyond_cap(running: list[dict[str, Any]], subscription_id: str, cap: int) -> None:
    """A 409 naming the running replay that stands in the way: this subscription's (one at a
    time each), or, at the owner key's cap, the key's others."""
    own = [r for r in running if r["subscription_id"] == subscription_id]
    if own:
        rid = own[0]["replay_id"]
        raise Problem(
            409,
            f"本订阅已有重发 {rid} 在进行，可等待其完成或取消 A replay of this subscription is "
            f"running ({rid}): wait for it, or cancel it",
            running_replay_id=str(rid),
        )
    if len(running) >= cap:
        first = running[0]
        rid, other = first["replay_id"], first["subscription_id"]
        raise Problem(
            409,
            f"本密钥已有 {len(running)} 个重发在进行（订阅 {other} 的 {rid}），已达上限 {cap} "
            f"This key's replays running ({rid} of {other}) are as many as it may run at once",
            running_replay_id=str(rid),
        )


@router.get(
    "/subscriptions/{subscription_id}/replays/{replay_id}",
    response_model=schemas.ReplayView,
    responses=NO_SUCH,
    summary="重发进度 A replay's progress",
)
async def replay_progress(
    subscription_id: str, replay_id: uuid.UUID, pool: Pool, key: SubscriberKey
) -> schemas.ReplayView:
    async with pool.acquire() as conn:
        return await _replay_view(conn, subscription_id, replay_id, key)


@router.delete(
    "/subscriptions/{subscription_id}/replays/{replay_id}",
    response_model=schemas.ReplayView,
    responses=NO_SUCH,
    summary="取消重发 Cancel a replay (what it sent stays sent; a finished one is left as it is)",
)
async def cancel_replay(
    subscription_id: str, replay_id: uuid.UUID, pool: Pool, key: SubscriberKey
) -> schemas.ReplayView:
    cancel = f"已由 {key.actor} 取消 Cancelled by {key.actor}"
    async with pool.acquire() as conn, conn.transaction():
        return await _replay_view(conn, subscription_id, replay_id, key, cancel)


async def _replay_view(
    conn: Connection,
    subscription_id: str,
    replay_id: uuid.UUID,
    key: ApiKey,
    cancel: str | None = None,
) -> schemas.ReplayView:
    """A replay of a subscription the key sees (404 otherwise), cancelled first if asked."""
    if await store.subscription(conn, subscription_id, _owner(key)) is None:
        raise _no_such(subscription_id)
    if cancel is not None:
        await webhook_log.cancel_replays(conn, subscription_id, cancel, replay_id)
    replay = await webhook_log.replay(conn, replay_id, subscription_id)
    if replay is None:
        raise Problem(404, f"没有重发 {replay_id} No such replay")
    return schemas.ReplayView.model_validate(replay)
