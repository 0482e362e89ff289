"""Notify's response models write the bodies the routes wrote before they declared them: the
same keys in the same order, times as Python's isoformat, a secret only when just put."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi.encoders import jsonable_encoder
from pydantic import TypeAdapter

from services.notify.api import schemas

AT = datetime(2026, 12, 4, 12, 34, 56, 789012, tzinfo=UTC)


def _written(value: Any, model: Any) -> bytes:
    """What the route answers with its response model (FastAPI's fast path)."""
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    return adapter.dump_json(adapter.validate_python(value))


def _untyped(body: Any) -> bytes:
    """What a route answered with a plain dict and no model (Starlette's JSONResponse)."""
    text = json.dumps(jsonable_encoder(body), ensure_ascii=False, separators=(",", ":"))
    return text.encode()


def _subscription_row() -> dict[str, Any]:
    return {
        "subscription_id": "sub_1",
        "url": "https://example.org/hook",
        "secret": "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0",
        "event_types": ["ComplaintFiled"],
        "area_code": None,
        "description": "区大屏",
        "status": "active",
        "disabled_reason": None,
        "created_at": AT,
        "updated_at": AT,
        "owner_key_id": None,
    }


def test_a_subscription_shows_its_secret_only_to_whoever_just_put_it():
    row = _subscription_row()
    put = schemas.subscription(row, secret=True)
    assert _written(put, schemas.SubscriptionView) == _untyped(
        {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
    )
    listed = schemas.subscriptions([row], ["ComplaintFiled"])
    shown = {k: v for k, v in row.items() if k != "secret"}
    assert _written(listed, schemas.Subscriptions) == _untyped(
        {"subscriptions": [shown], "event_types": ["ComplaintFiled"]}
    )
    assert b"+00:00" in _written(listed, schemas.Subscriptions)


def test_the_directory_and_the_dead_letters_keep_their_columns_in_order():
    entry = {
        "recipient_id": "licheng-water",
        "name": "区水务局",
        "sms": "13900000000",
        "email": None,
        "wechat_openid": None,
        "updated_at": AT,
        "area_code": "370112000000",
        "duty": "staff",
    }
    assert _written(schemas.directory([entry]), schemas.Directory) == _untyped({"entries": [entry]})
    letter = {
        "notification_id": uuid.uuid4(),
        "event_id": uuid.uuid4(),
        "complaint_id": uuid.uuid4(),
        "audience": "unit",
        "recipient": "licheng-water",
        "channel": "sms",
        "endpoint": "",
        "template": "work_order_issued",
        "attempts": 8,
        "last_error": "503",
        "updated_at": AT,
    }
    page = schemas.dead_letters([letter], 50, 0)
    assert _written(page, schemas.DeadLetters) == _untyped(
        {"dead_letters": [letter], "limit": 50, "offset": 0}
    )
