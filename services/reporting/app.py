"""What reporting's entry points share: the measures' configuration, the read models to fill in
the background because their shape changed at start, and the console's doors to the other
services."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.reporting.adapters.upstream import Upstream
from services.reporting.measures import MeasuresConfig
from services.reporting.settings import ReportingSettings
from shared.runtime import ServiceRuntime


@dataclass
class Reporting:
    measures: MeasuresConfig
    upstream: Upstream
    backfill: list[str] = field(default_factory=list)  # set at start (store.prepare_models)


# What reporting's routes, handlers and workers are given: its settings, and `app`, the Reporting.
ReportingRuntime = ServiceRuntime[ReportingSettings, Reporting]
