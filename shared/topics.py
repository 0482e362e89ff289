"""Every topic name, in one place, with its partition count. Topics are never auto-created."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int


COMPLAINT_EVENTS = "complaint.events"
DISPATCH_EVENTS = "dispatch.events"
NOTIFICATION_EVENTS = "notification.events"

EVENT_TOPICS = (COMPLAINT_EVENTS, DISPATCH_EVENTS, NOTIFICATION_EVENTS)

# Scale-out is by partitions: a consumer group can use at most this many workers per topic.
EVENT_PARTITIONS = 8
DLQ_PARTITIONS = 1


def dlq(topic: str) -> str:
    """The dead-letter topic of an event topic."""
    return f"{topic}.dlq"


ALL_TOPICS: tuple[TopicSpec, ...] = tuple(
    spec
    for topic in EVENT_TOPICS
    for spec in (TopicSpec(topic, EVENT_PARTITIONS), TopicSpec(dlq(topic), DLQ_PARTITIONS))
)

# Which service publishes which topic (its relay's): each event topic has exactly one writer.
PUBLISHES: dict[str, str] = {
    "intake": COMPLAINT_EVENTS,
    "dispatch": DISPATCH_EVENTS,
    "notify": NOTIFICATION_EVENTS,
}

# The topic of each contract module: a contract travels on its owner's topic.
_TOPIC_OF_MODULE = {
    "shared.events.complaint": COMPLAINT_EVENTS,
    "shared.events.dispatch": DISPATCH_EVENTS,
    "shared.events.council": DISPATCH_EVENTS,
    "shared.events.ballots": DISPATCH_EVENTS,  # dispatch's consultations and ballots
    "shared.events.committees": DISPATCH_EVENTS,  # 业委会派单, 社区点单
    "shared.events.matters": DISPATCH_EVENTS,  # 政务事项, dispatch's too
    "shared.events.notification": NOTIFICATION_EVENTS,
}


def topic_of(event_class: type) -> str | None:
    """The topic a contract travels on (that of the module defining it); None for one defined
    elsewhere (a test's own contract)."""
    return _TOPIC_OF_MODULE.get(event_class.__module__)


# Which service consumes what (ARCHITECTURE §1): each service's consumers are one consumer group.
CONSUMES: dict[str, tuple[str, ...]] = {
    "intake": (DISPATCH_EVENTS,),
    "dispatch": (COMPLAINT_EVENTS,),
    "notify": (COMPLAINT_EVENTS, DISPATCH_EVENTS),
    "reporting": EVENT_TOPICS,
}


def consumer_group(service: str) -> str:
    """The consumer group (and faust app id) of a service's consumers."""
    return f"jiesu-{service}"


def consumer_groups() -> dict[str, tuple[str, ...]]:
    """Every consumer group of the platform with the topics it consumes."""
    return {consumer_group(service): topics for service, topics in CONSUMES.items()}
