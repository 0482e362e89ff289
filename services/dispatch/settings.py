"""Dispatch's settings (env prefix DISPATCH_)."""

from __future__ import annotations

from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class DispatchSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="DISPATCH_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    service_name: str = "dispatch"
    port: int = 8002
    # City model uploads are the largest requests (a city of thousands of communities).
    max_body_bytes: int = 8 * 1024 * 1024
    # In development, fixed keys `dev-key-admin`, `dev-key-supervisor` and `dev-key-<unit id>`
    # for every unit of the city model exist so curl examples work; production refuses them.
    dev_keys: bool | None = None  # default: on in development, off in production
    dev_key_rate_per_minute: int = 6000
    # limits storage URI: memory:// counts per replica; redis://host:6379 shares the count.
    rate_limit_storage: str = "memory://"
    # The SLA clocks: how often a worker looks for due timers at most, and how many it claims
    # at once. Every dispatch worker polls; SKIP LOCKED shares the rows between them.
    timer_poll_interval_s: float = 5.0
    timer_batch_size: int = 100
    run_timers: bool = True
    # Load the packaged holiday calendars (data/calendar-*.yaml) for years not yet loaded.
    packaged_calendars: bool = True

    @model_validator(mode="after")
    def _no_dev_keys_in_production(self) -> DispatchSettings:
        if self.environment == "production":
            if self.dev_keys:
                raise ValueError("DISPATCH_DEV_KEYS must be false in production")
            self.dev_keys = False
        elif self.dev_keys is None:
            self.dev_keys = True
        return self
