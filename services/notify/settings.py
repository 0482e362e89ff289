"""Notify's settings (env prefix NOTIFY_)."""

from __future__ import annotations

from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

DEV_SECRET = "whsec_ZGV2LW9ubHktd2ViaG9vay1zZWNyZXQtY2hhbmdlLW1l"  # base64("dev-only-webhook-secret-change-me")


class NotifySettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="NOTIFY_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    service_name: str = "notify"
    port: int = 8003
    # Where the webhook channel posts (a gateway or a downstream system).
    webhook_url: str = "http://127.0.0.1:8009/webhooks"
    # Standard Webhooks secret: "whsec_" + base64 key.
    webhook_secret: str = DEV_SECRET
    webhook_timeout_s: float = 10.0
    delivery_max_attempts: int = 8
    delivery_backoff_initial_s: float = 1.0
    delivery_backoff_max_s: float = 300.0
    delivery_lease_s: float = 30.0
    delivery_batch: int = 50
    delivery_concurrency: int = 16
    delivery_poll_interval_s: float = 1.0
    locale: str = "zh-CN"

    @model_validator(mode="after")
    def _no_dev_secret_in_production(self) -> NotifySettings:
        if self.environment == "production" and self.webhook_secret == DEV_SECRET:
            raise ValueError("NOTIFY_WEBHOOK_SECRET must be set to a real secret in production")
        if not self.webhook_secret.startswith("whsec_"):
            raise ValueError("NOTIFY_WEBHOOK_SECRET must look like whsec_<base64>")
        return self
