"""Intake's SQL, every statement of the service, by concern: complaint streams and their views
(complaints), the contact vault (vault), what filing reads (nearby), the staff's work lists
(worklists), the guards of the residents' doors (guards), the city followed from dispatch
(city) and Open311's feed (open311). It returns rows and records, never HTTP answers.
Callers use the names below."""

from services.intake.store.city import (
    CatalogueCache,
    PromiseCache,
    follow_calendar,
    follow_city,
    follow_time_limits,
)
from services.intake.store.complaints import (
    OpeningEventStore,
    add_all_updates,
    add_updates,
    complaints_of,
    find_view,
    load,
    load_all,
    load_history,
    merged_into_count,
    next_case_sequence,
    patrol_stream,
    save_new_views,
    save_view,
    save_views,
    stream_of,
    survivor_of,
    updates_of,
)
from services.intake.store.consents import homes_of, save_consents
from services.intake.store.guards import first_push, tail_matches
from services.intake.store.nearby import Nearby, sequences_and_places_near
from services.intake.store.open311 import Page, request_updates, service_request, service_requests
from services.intake.store.vault import (
    ContactErased,
    VaultKeyMissing,
    count_resident_keys,
    erase_resident,
    read_contact,
    read_contacts,
    read_notice_contacts,
    rewrap_resident_keys,
    store_contacts,
    store_notice_contact,
    words_keys,
)
from services.intake.store.worklists import (
    awaiting_rating,
    callback_worklist,
    next_triage_step,
    triage_due,
    triage_queue,
)

__all__ = [
    "CatalogueCache",
    "ContactErased",
    "Nearby",
    "OpeningEventStore",
    "Page",
    "PromiseCache",
    "VaultKeyMissing",
    "add_all_updates",
    "add_updates",
    "awaiting_rating",
    "callback_worklist",
    "complaints_of",
    "count_resident_keys",
    "erase_resident",
    "find_view",
    "first_push",
    "follow_calendar",
    "follow_city",
    "follow_time_limits",
    "homes_of",
    "load",
    "load_all",
    "load_history",
    "merged_into_count",
    "next_case_sequence",
    "next_triage_step",
    "patrol_stream",
    "read_contact",
    "read_contacts",
    "read_notice_contacts",
    "request_updates",
    "rewrap_resident_keys",
    "save_consents",
    "save_new_views",
    "save_view",
    "save_views",
    "sequences_and_places_near",
    "service_request",
    "service_requests",
    "store_contacts",
    "store_notice_contact",
    "stream_of",
    "survivor_of",
    "tail_matches",
    "triage_due",
    "triage_queue",
    "updates_of",
    "words_keys",
]
