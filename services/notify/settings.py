"""Notify's settings (env prefix NOTIFY_)."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import DEV_KEY_PREFIX, DEV_SECRET_PREFIX, DevKeys, ServiceSettings

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)$")


def seconds(span: str) -> float:
    amount, unit = _SPAN.match(span.strip()).groups()  # type: ignore[union-attr]
    return float(amount) * {"s": 1, "m": 60, "h": 3600}[unit]


class NotifySettings(DevKeys, ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="NOTIFY_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )
    dev_defaults: ClassVar[dict[str, str]] = {
        "sms_api_key": "must be set in production",
        "wechat_api_key": "must be set in production",
        "intake_key": "must be a real intake notify key in production",
    }

    service_name: str = "notify"
    port: int = 8003
    # Directory uploads are the largest requests.
    max_body_bytes: int = 1024 * 1024
    locale: str = "zh-CN"
    # Intake, asked for residents' contacts when their messages go out (a key of role notify).
    intake_url: str = "http://127.0.0.1:8001"
    intake_key: str = f"{DEV_KEY_PREFIX}notify"
    # Gateways (the local runner points them at its sink on 8009, SMTP on 8025).
    sms_gateway_url: str = "http://127.0.0.1:8009/sms"
    sms_api_key: str = f"{DEV_SECRET_PREFIX}sms-key"
    sms_sign_name: str = "接诉即办"
    wechat_gateway_url: str = "http://127.0.0.1:8009/wechat"
    wechat_api_key: str = f"{DEV_SECRET_PREFIX}wechat-key"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_from: str = "接诉即办 <noreply@jiesu.local>"
    smtp_domain: str = "jiesu.local"
    gateway_timeout_s: float = 10.0
    # After each failed attempt, the wait before the next one (then the message is abandoned
    # to the dead-letter list): immediately, then over about a day, as Standard Webhooks does.
    retry_schedule: str = "5s,5m,30m,2h,5h,10h,10h"
    # Messages in flight per channel (each channel has its own senders), and at most this many
    # to one endpoint (one subscriber), so a slow one cannot take every sender. A channel
    # sends at most channel_concurrency ÷ the gateway's answer time: 64 at 100 ms is 640/s.
    # With 16, the demo's SMS fell behind at 80 complaints/s (≈ 300 messages/s, answers
    # slowed by the busy box) and its new messages went through the table instead.
    channel_concurrency: int = 64
    endpoint_concurrency: int = 4
    delivery_lease_s: float = 60.0
    # How long the outcome recorder waits after the first outcome for the ones finishing
    # with it, so that a complaint's messages sent together are recorded as one event.
    record_gather_s: float = 0.02
    # The longest a claimer sleeps: it sleeps until the soonest retry or lease end, and new
    # deliveries (handed over, or NOTIFY), recorded retries and free senders wake it. The poll
    # only bounds what a lost wake-up could delay.
    delivery_poll_interval_s: float = 60.0
    # (dev keys: `dev-key-admin` and `dev-key-ops`)
    # The live stream (SSE): the longest it waits for new status changes (each commit wakes it),
    # how many a slow client may fall behind before it is told to reconnect (and catch up from
    # Last-Event-ID).
    live_poll_interval_s: float = 30.0
    live_queue_size: int = 1000
    # Hosts webhooks may reach although they are on this machine or its network (loopback,
    # private, link-local), comma-separated names as subscriptions write them. Default: none in
    # production; the local machine's names in development (the demo's webhook sink).
    webhook_allowed_hosts: str | None = None
    # Replays: how long subscribable events' public bodies are kept to be sent again (a
    # subscriber may ask for everything since a time within this window), and how many of a
    # replay's messages go out per second at most (one after another, in order).
    replay_retention_days: float = 30.0
    replay_rate_per_s: float = 20.0
    # What one subscriber key may hold: subscriptions (each could replay the whole window),
    # and replays running at once over all of them. An admin's subscriptions are not capped.
    subscriptions_per_key: int = Field(20, ge=1)
    replays_per_key: int = Field(1, ge=1)

    @field_validator("retry_schedule")
    @classmethod
    def _spans(cls, value: str) -> str:
        spans = [s for s in value.split(",") if s.strip()]
        if not spans or not all(_SPAN.match(s.strip()) for s in spans):
            raise ValueError("NOTIFY_RETRY_SCHEDULE: comma-separated spans such as 5s,5m,2h")
        return value

    @property
    def retry_delays_s(self) -> list[float]:
        return [seconds(s) for s in self.retry_schedule.split(",") if s.strip()]

    @model_validator(mode="after")
    def _local_webhooks_outside_production(self) -> NotifySettings:
        if self.webhook_allowed_hosts is None:
            local = self.environment != "production"
            self.webhook_allowed_hosts = "127.0.0.1,localhost,::1" if local else ""
        return self
