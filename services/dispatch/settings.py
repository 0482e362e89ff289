"""Dispatch's settings (env prefix DISPATCH_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class DispatchSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="DISPATCH_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    service_name: str = "dispatch"
    port: int = 8002
