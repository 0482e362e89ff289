"""The console's Dead letters page: the Kafka DLQs and notify's abandoned deliveries in one list,
filtered by topic, consumer, event type, error text and time; a letter opens to its payload,
headers and error. Supervisors look; an admin redrives or parks one, a selection or the whole
filtered list, with a reason that is recorded with the key's name."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from services.reporting import operations
from services.reporting.adapters.upstream import UpstreamError
from services.reporting.api.deps import Runtime
from services.reporting.letters import ACTIONS, Filter, Letter, moment
from services.reporting.web.pages import render
from services.reporting.web.session import Admin, CityWide
from shared.http import Problem

router = APIRouter(include_in_schema=False)

PATH = "/console/dead-letters"
BEIJING = timezone(timedelta(hours=8))  # what the page's time inputs mean


class Filtered(BaseModel):
    """The page's filter, as its query (GET) or as the hidden fields of its actions (POST)."""

    model_config = ConfigDict(populate_by_name=True)

    topic: str | None = Field(None, max_length=200)
    consumer: str | None = Field(None, max_length=200)
    event_type: str | None = Field(None, alias="type", max_length=200)
    error: str | None = Field(None, max_length=200)
    since: str | None = Field(None, max_length=40)  # datetime-local, Beijing time
    until: str | None = Field(None, max_length=40)

    def values(self) -> dict[str, str | None]:
        """By the names of the page's fields."""
        return self.model_dump(by_alias=True, include=set(Filtered.model_fields))

    def filter(self) -> Filter:
        return Filter(
            topic=self.topic or None,
            consumer=self.consumer or None,
            event_type=self.event_type or None,
            error=self.error or None,
            since=moment(self.since, BEIJING),
            until=moment(self.until, BEIJING),
        )


class Act(Filtered):
    """`do` is `<redrive|park>:selected`, `<redrive|park>:filter` or `<redrive|park>:one:<id>`."""

    do: str = Field(max_length=300)
    reason: str = Field(min_length=2, max_length=500)
    ids: list[str] = Field(default_factory=list)


@router.get(PATH)
async def dead_letters_page(
    request: Request,
    key: CityWide,
    runtime: Runtime,
    shown_by: Annotated[Filtered, Query()],
    done: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    box = runtime.app.letters
    if box.read_at is None:  # before the sampler's first look
        await box.refresh()
    wanted = shown_by.filter()
    async with runtime.pool.acquire() as conn:
        every, problems = await box.open(conn)
        actions = await operations.letter_actions(conn, 20)
    return render(
        request,
        "console/dead_letters.html",
        key=key,
        letters=[letter for letter in every if wanted.matches(letter)],
        total=len(every),
        depth={t: sum(letter.topic == t for letter in every) for t in box.topics},
        notify_open=sum(letter.source == "notify" for letter in every),
        choices={
            "topic": sorted({letter.topic for letter in every}),
            "consumer": sorted({letter.consumer for letter in every}),
            "type": sorted({letter.event_type for letter in every}),
        },
        values=shown_by.values(),
        problems=problems,
        actions=actions,
        read_at=box.read_at,
        done=done,
        may_act=key.role.value == "admin",
    )


@router.post(PATH)
async def act_on_dead_letters(
    key: Admin, runtime: Runtime, form: Annotated[Act, Form()]
) -> Response:
    action, _, scope = form.do.partition(":")
    if action not in ACTIONS:
        raise Problem(422, f"未知操作 Unknown action {action!r}")
    box = runtime.app.letters
    async with runtime.pool.acquire() as conn:
        every, _ = await box.open(conn)
        chosen: list[Letter]
        if scope == "filter":
            wanted = form.filter()
            chosen = [letter for letter in every if wanted.matches(letter)]
        else:
            named = {scope.removeprefix("one:")} if scope.startswith("one:") else set(form.ids)
            chosen = [letter for letter in every if letter.id in named]
        if not chosen:
            raise Problem(422, "没有选中未处理的死信 No open dead letter chosen")
        try:
            count = await box.act(conn, chosen, action, key.name, form.reason.strip())
        except UpstreamError as failed:
            raise Problem(502, f"重投失败 Redrive failed: {failed}") from failed
        runtime.app.streams.set_dlq_depth(await box.depth(conn))
    query = {k: v for k, v in form.values().items() if v} | {"done": f"{action}:{count}"}
    return RedirectResponse(f"{PATH}?{urlencode(query)}", status_code=303)
