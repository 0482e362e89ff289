"""What reporting's entry points share: the measures' configuration, the read models to fill in
the background because their shape changed at start, the console's doors to the other
services, its view of the streams and the dead letters, and the board's live feed."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.reporting.adapters.board_feed import BoardFeed
from services.reporting.adapters.upstream import Upstream
from services.reporting.letters import DeadLetterBox
from services.reporting.measures import MeasuresConfig
from services.reporting.settings import ReportingSettings
from services.reporting.streams import Monitor
from shared.runtime import ServiceRuntime


@dataclass
class Reporting:
    measures: MeasuresConfig
    upstream: Upstream
    streams: Monitor
    letters: DeadLetterBox
    backfill: list[str] = field(default_factory=list)  # set at start (store.prepare_models)
    board_feed: BoardFeed = field(default_factory=BoardFeed)  # wakes the board's live pages


# What reporting's routes, handlers and workers are given: its settings, and `app`, the Reporting.
ReportingRuntime = ServiceRuntime[ReportingSettings, Reporting]
