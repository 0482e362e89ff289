"""The public shape of each event a webhook subscriber receives: what the public board may
show, never a resident's data or free text. One model per subscribable event type, versioned
like the events; `WebhookBody` is the CloudEvents structured JSON that is POSTed.

Each model is an allow-list: a payload is built from its event's fields of the same names,
so a field added to an event reaches subscribers only once it is added here, on purpose.
Their schemas are snapshotted in `shared/events/public_schemas/` and pass the compatibility
gate as a family of their own (shared/events/snapshots.py, `make schemas`, `make lint`).
"""

from shared.events.public import complaint, dispatch
from shared.events.public.base import (
    PUBLIC_PAYLOADS,
    PublicPayload,
    WebhookBody,
    public_payload,
    webhook_body,
    webhook_body_json,
    webhook_body_model,
)

__all__ = [
    "PUBLIC_PAYLOADS",
    "PublicPayload",
    "WebhookBody",
    "complaint",
    "dispatch",
    "public_payload",
    "webhook_body",
    "webhook_body_json",
    "webhook_body_model",
]
