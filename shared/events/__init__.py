"""Event contracts, one module per owning service, and the single parse function."""

from shared.events.base import (
    REGISTRY,
    Event,
    UndecodableEvent,
    UnknownEventType,
    parse_event,
    upcaster,
)
from shared.events.complaint import Channel, ComplaintFiled
from shared.events.dispatch import CityModelLoaded, ResponderRole, WorkOrderIssued
from shared.events.notification import Audience, NotificationDelivered, NotificationFailed

__all__ = [
    "REGISTRY",
    "Audience",
    "Channel",
    "CityModelLoaded",
    "ComplaintFiled",
    "Event",
    "NotificationDelivered",
    "NotificationFailed",
    "ResponderRole",
    "UndecodableEvent",
    "UnknownEventType",
    "WorkOrderIssued",
    "parse_event",
    "upcaster",
]
