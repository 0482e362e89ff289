"""Dispatch's settings (env prefix DISPATCH_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import DevKeys, ServiceSettings


class DispatchSettings(DevKeys, ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="DISPATCH_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    service_name: str = "dispatch"
    port: int = 8002
    # City model uploads are the largest requests: a Beijing-size city (343 streets, 50,000
    # grids, python -m deploy.citygen) is 18 MB as CSV sections, 27 MB as one YAML file.
    max_body_bytes: int = 64 * 1024 * 1024
    # (dev keys: `dev-key-admin`, `dev-key-supervisor` and `dev-key-<unit id>` for every unit)
    # The SLA clocks: the longest a worker sleeps between looks for due timers (it sleeps to
    # the next due row, and a new row due sooner wakes it: LISTEN/NOTIFY), and how many it
    # claims at once. Every dispatch worker looks; SKIP LOCKED shares the rows between them.
    timer_poll_interval_s: float = 30.0
    timer_batch_size: int = 100
    run_timers: bool = True
    # Load the packaged holiday calendars (data/calendar-*.yaml) for years not yet loaded.
    packaged_calendars: bool = True
