"""A generated city (deploy/citygen) as reporting sees it: its model as dispatch publishes it,
and complaint stories spread over its streets, for the ranking test and the city benchmark."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from deploy.citygen.model import City
from services.dispatch.domain.city import CityFile, changes_between, parts_of
from shared.envelope import Envelope
from shared.events import CityChange, CityModelChanged
from tests.support.reporting_story import H, Story


def city_body(city: City) -> dict[str, Any]:
    """The city as dispatch holds it once loaded (compounds given to their managers)."""
    return CityFile.model_validate({"city": city.name, **city.sections()}).body()


def city_envelopes(body: dict[str, Any], at: datetime) -> list[Envelope]:
    """Its first version's `CityModelChanged` parts, as dispatch's relay publishes them."""
    parts = parts_of(changes_between(None, body))
    return [
        Envelope(
            event=CityModelChanged(
                catalogue_version=1,
                part=index + 1,
                parts=len(parts),
                changes=[
                    CityChange(section=c.section, op=c.op, key=c.key, value=c.value) for c in part
                ],
                actor="admin:bench",
                reason="generated city",
                changed_at=at,
            ),
            id=uuid.uuid4(),
            source="/jiesu/dispatch",
            time=at,
            correlation_id=uuid.uuid4(),
            sequence=index,
        )
        for index, part in enumerate(parts)
    ]


def stories(city: City, count: int, month: datetime, seed: int = 1) -> list[Story]:
    """`count` complaints filed in the 27 days from `month`, each at a building or grid drawn at
    random and led by its street office: most signed, contacted, resolved and rated; some late,
    some left open (so that the streets' scores differ)."""
    rng = random.Random(seed)
    places = [a["code"] for a in city.areas if a["level"] in ("grid", "building")]
    categories = {c["code"]: c["name"] for c in city.categories}
    codes = sorted(categories)
    units = {u["id"]: {"name": u["name"], "kind": u["kind"]} for u in city.responders}
    told = []
    for index in range(count):
        area = rng.choice(places)
        filed = month + timedelta(days=27 * rng.random())
        story = Story(
            f"BJ{index:07d}", area, rng.choice(codes), filed, units=units, categories=categories
        )
        lead = story.order(f"street-{area[:9]}", filed + timedelta(minutes=1))
        luck = rng.random()
        if luck < 0.85:
            story.sign(lead, filed + H * rng.uniform(0.1, 3))
        if luck < 0.7:
            story.contact(lead, filed + H * rng.uniform(3, 24))
            done = filed + H * rng.uniform(24, 240)
            story.resolve(lead, done)
            story.case_resolved(lead, done + H)
            if rng.random() < 0.8:
                story.callback(
                    done + 2 * H, resolved=rng.random() < 0.85, satisfied=rng.random() < 0.75
                )
        told.append(story)
    return told
