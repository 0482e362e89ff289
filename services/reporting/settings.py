"""Reporting's settings (env prefix REPORTING_)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from shared.db import with_database
from shared.sealing import IntakeKeys
from shared.settings import DEV_KEY_PREFIX, DevKeys, ServiceSettings

SOURCES = ("intake", "dispatch", "notify")


class ReportingSettings(DevKeys, ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="REPORTING_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )
    dev_defaults: ClassVar[dict[str, str]] = {
        "intake_key": "must be a real intake reporting key in production",
        "console_intake_key": "must be a real intake admin key in production",
        "console_dispatch_key": "must be a real dispatch supervisor key in production",
        "console_notify_key": "must be a real notify admin key in production",
    }

    service_name: str = "reporting"
    port: int = 8004
    # The event stores a replay reads (never Kafka's retention). Read-only use: reporting
    # reads their `events` tables and nothing else. Unset: jiesu_<service> on DATABASE_URL's server.
    intake_store_url: str = ""
    dispatch_store_url: str = ""
    notify_store_url: str = ""
    # Intake, asked for residents' words keys (one request a batch) to open sealed filings:
    # a key of intake's role `reporting`.
    intake_url: str = "http://127.0.0.1:8001"
    intake_key: str = f"{DEV_KEY_PREFIX}reporting"
    # The operations console reads the other services through their HTTP APIs and /metrics,
    # with keys of their own: intake's admin (the triage queue), dispatch's supervisor (timers,
    # arbitration), notify's admin (backlog, abandoned deliveries and their redrive).
    dispatch_url: str = "http://127.0.0.1:8002"
    notify_url: str = "http://127.0.0.1:8003"
    console_intake_key: str = f"{DEV_KEY_PREFIX}admin"
    console_dispatch_key: str = f"{DEV_KEY_PREFIX}supervisor"
    console_notify_key: str = f"{DEV_KEY_PREFIX}admin"
    # Sent with the console's session cookie's `Secure` flag (behind HTTPS in production).
    console_cookie_secure: bool = False
    # The case page links each hop's trace to a trace viewer: a URL with {trace_id}, e.g.
    # Jaeger's http://127.0.0.1:16686/trace/{trace_id} (unset: the trace id is shown unlinked).
    traces_ui_url: str | None = None
    # Words keys held in memory (the most recently used; a resident's goes on their erasure).
    intake_keys_cached: int = 10_000
    # Formulas, weights and ranking rules (services/reporting/measures.yaml documents them).
    measures_file: Path = Path(__file__).with_name("measures.yaml")
    # Rebuild a model whose shape changed at start, from the stores, in the background.
    backfill_on_start: bool = True
    replay_batch_size: int = 5000
    # Processes a rebuild shares the complaints between (the projections are Python-bound).
    # 0: one per CPU, at most 4 (measured on 2 cores: 2 workers 1.8x one, 3 no better).
    replay_workers: int = 0

    # The cross-service consistency check (services/reporting/consistency.py): how often this
    # process runs it into the gauges jiesu_consistency_* (0: never), how long a case must be
    # unchanged to be compared, and the pause before a drift is looked at again to count.
    consistency_interval_s: float = 600.0
    consistency_grace_s: float = 60.0
    consistency_confirm_after_s: float = 10.0

    # The console's Streams page (services/reporting/streams.py): how often the sampler looks at
    # the broker and the relays, how much history it keeps in memory, and how long a group's lag
    # or a relay's delay must have grown before it raises an alarm.
    streams_interval_s: float = 5.0
    streams_history_s: float = 1800.0
    streams_alarm_after_s: float = 300.0

    def rebuild_workers(self) -> int:
        return self.replay_workers or min(4, os.cpu_count() or 1)

    @model_validator(mode="after")
    def _default_sources(self) -> ReportingSettings:
        for source in SOURCES:
            if not getattr(self, f"{source}_store_url"):
                url = with_database(self.server_database_url, f"jiesu_{source}")
                setattr(self, f"{source}_store_url", url)
        return self

    def intake_keys(self) -> IntakeKeys:
        return IntakeKeys(self.intake_url, self.intake_key)

    def upstreams(self) -> dict[str, tuple[str, str]]:
        """Each service the console reads: (base URL, the console's key there)."""
        return {
            "intake": (self.intake_url, self.console_intake_key),
            "dispatch": (self.dispatch_url, self.console_dispatch_key),
            "notify": (self.notify_url, self.console_notify_key),
        }

    def store_urls(self) -> dict[str, str]:
        return {source: getattr(self, f"{source}_store_url") for source in SOURCES}
