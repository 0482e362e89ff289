"""Read model "ballots": consultations and ballots (征求意见、表决) and their turnout, as
projections (services/reporting/projections.py names the model; this is its part)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.reporting.upsert import Upsert
from shared.envelope import Envelope
from shared.events import BallotClosed, BallotOpened, Event, HouseholdVoted

# --- model "ballots": consultations and ballots (征求意见、表决), their turnout -----------------


def _ballot_opened(e: BallotOpened, env: Envelope) -> list[Upsert]:
    once = {
        "item_id": e.item_id,
        "kind": e.kind,
        "title": e.title,
        "proposal": e.proposal,
        "options": e.options,
        "quorum": e.quorum,
        "majority": e.majority,
        "majority_of": e.majority_of,
        "area_code": e.area_code,
        "community_code": e.community_code,
        "eligible": len(e.roll),  # how many households, never which
        "opened_at": e.opens_at,
        "closes_at": e.closes_at,
    }
    return [Upsert("ballots", {"ballot_id": e.ballot_id}, once=once)]


def _household_voted(e: HouseholdVoted, env: Envelope) -> list[Upsert]:
    # One row per vote, keyed by the event: counted, and never naming the household.
    once = {"ballot_id": e.ballot_id, "method": e.method, "cast_at": e.cast_at}
    return [Upsert("ballot_votes", {"vote_id": env.id}, once=once)]


def _ballot_closed(e: BallotClosed, env: Envelope) -> list[Upsert]:
    once = {
        "area_code": e.area_code,
        "community_code": e.community_code,
        "kind": e.kind,
        "title": e.title,
        "eligible": e.eligible,
        "cast_count": e.cast,
        "tally": [t.model_dump() for t in e.tally],
        "quorum_met": e.quorum_met,
        "carried": e.carried,
        "outcome": e.outcome,
        "closed_at": e.closed_at,
    }
    return [Upsert("ballots", {"ballot_id": e.ballot_id}, once=once)]


BALLOT_TABLES = ("ballots", "ballot_votes")  # the votes are appended: one row an event
BALLOTS: dict[type[Event], Callable[[Any, Envelope], list[Upsert]]] = {
    BallotOpened: _ballot_opened,
    HouseholdVoted: _household_voted,
    BallotClosed: _ballot_closed,
}
