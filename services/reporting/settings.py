"""Reporting's settings (env prefix REPORTING_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="REPORTING_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    service_name: str = "reporting"
    port: int = 8004
