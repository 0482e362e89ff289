"""Intake's response models describe the bodies its routes send: every JSON answer of the
OpenAPI document names a model, and each model has the fields its answer is built with, in
that order, and accepts what is built."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from pydantic import BaseModel

from deploy.local.runner import DEMO_CITY
from services.intake.adapters.open311 import documents
from services.intake.api import schemas
from services.intake.domain import decisions, model, ratings
from services.intake.domain.catalogue import Catalogue, CatalogueFile
from services.intake.domain.classifier import Classification
from services.intake.domain.commands import FileComplaint
from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from shared.events import ComplaintType, Satisfaction
from tests.support import examples

AT = datetime(2026, 12, 4, 12, 34, 56, 789012, tzinfo=UTC)
CATALOGUE = Catalogue(CatalogueFile.model_validate(yaml.safe_load(DEMO_CITY.read_text())), 1)


def view_row(**overrides: Any) -> dict[str, Any]:
    """A complaint's view row as the store returns it."""
    return {
        "complaint_id": uuid.uuid4(),
        "case_number": "JS-20261204-000001",
        "channel": "hotline",
        "status": "triage",
        "type": "help",
        "category": "roof-leak",
        "confidence": 0.42,
        "needs_triage": True,
        "area_code": "370124001001-G01-B02-U1",
        "grid_code": "370124001001-G01",
        "building_code": "370124001001-G01-B02",
        "address": "玫城丽都2号楼1单元602",
        "latitude": 36.28505,
        "longitude": 116.46895,
        "text": "顶楼漏雨，墙皮脱落",
        "attributes": {"floor": 6.0},
        "media_urls": [],
        "resident_ref": "R-0123456789abcdef0123",
        "masked_phone": "138****5678",
        "duplicate_pending": True,
        "duplicate_candidates": [
            {
                "complaint_id": str(uuid.uuid4()),
                "case_number": "JS-20261203-000007",
                "reason": "same_building",
                "distance_m": None,
            }
        ],
        "merged_into": None,
        "lead_responder": None,
        "due_at": AT + timedelta(days=7),
        "status_note": "已受理，等待工作人员分类",
        "filed_at": AT,
        "updated_at": AT,
        "version": 3,
        "resolved_at": None,
        "unreached_callbacks": 0,
        "triage_clock": None,
        "reached_at": None,
    } | overrides


def described(body: dict[str, Any], model: type[BaseModel]) -> None:
    """`model` names the body's fields in the body's order, and takes the body as it is."""
    assert list(body) == list(model.model_fields)
    model.model_validate(body)


def test_every_json_answer_of_intake_names_its_model():
    settings = IntakeSettings(database_url="postgresql://unused@127.0.0.1/unused")
    unnamed = [
        f"{method.upper()} {path} {status}"
        for path, operations in create_app(settings).openapi()["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if status.startswith("2")
        and not response.get("content", {}).get("application/json", {"schema": True})["schema"]
    ]
    assert unnamed == []


def test_a_complaint_is_shown_with_its_progress_as_its_models_say():
    row = view_row()
    updates = [{"status": "triage", "description": "已受理", "updated_at": AT}]
    described(schemas.complaint_view(row), schemas.ComplaintView)
    described(schemas.complaint_progress(row, updates), schemas.ComplaintProgress)
    assert schemas.complaint_view(row)["due_at"] == (AT + timedelta(days=7)).isoformat()


def test_the_work_lists_items_are_their_models():
    waiting = view_row()
    described(schemas.triage_item(waiting, timedelta(hours=2), AT), schemas.TriageItem)
    kept = schemas.triage_item(view_row(status="classified"), timedelta(hours=2), AT)
    assert "accept_due_at" not in kept and kept["reasons"] == ["likely_duplicate"]
    schemas.TriageItem.model_validate(kept)
    reported = view_row(status="resolved", waiting_since=AT, survivor_case_number=None)
    described(schemas.callback_item(reported, timedelta(hours=72), AT), schemas.CallbackItem)


def test_a_trial_classification_and_the_catalogue_are_their_models():
    guess = Classification(
        ComplaintType.HELP, 0.9, "roof-leak", 0.81, (("roof-leak", 0.81), ("water", 0.1))
    )
    described(schemas.classification(guess, CATALOGUE, (0.6, 0.45)), schemas.Classification)
    schemas.CurrentCatalogue.model_validate(schemas.current_catalogue(CATALOGUE))


def test_the_residents_lookup_offers_its_rating_link_as_documented():
    grant = ratings.RatingGrant(uuid.uuid4(), 0, AT)
    offer = schemas.rating_offer(grant, "secret", "https://example.org/rate")
    described(offer, schemas.RatingOffer)
    assert offer["url"] == f"https://example.org/rate#token={offer['token']}"
    row = view_row(status="resolved")
    described(schemas.lookup(row, [], CATALOGUE, offer), schemas.Lookup)


def test_open311_documents_are_their_models():
    roof = CATALOGUE.categories["roof-leak"]
    described(documents.service(roof), documents.Service)
    described(documents.definition(roof), documents.ServiceDefinition)
    described(documents.request(view_row(), CATALOGUE), documents.ServiceRequest)
    update = {
        "update_id": 7,
        "case_number": "JS-20261204-000001",
        "status": "triage",
        "description": "已受理",
        "updated_at": AT,
    }
    described(documents.update(update), documents.RequestUpdate)


def test_a_rating_and_an_erasure_are_answered_as_documented():
    command = FileComplaint.model_validate(examples.complaint_request(0))
    state = model.fold(decisions.file_complaint(command, examples.filing()))
    assert state is not None
    answered = schemas.rating_recorded(state, Satisfaction.BASICALLY_SATISFIED)
    described(answered, schemas.RatingRecorded)
    assert answered["satisfaction_label"] == "基本满意"
    described(schemas.erased("R-0123456789abcdef0123", 2), schemas.Erased)
