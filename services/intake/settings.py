"""Intake's settings (env prefix INTAKE_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.settings import DEV_SECRET_PREFIX, DevKeys, ServiceSettings


class IntakeSettings(DevKeys, ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="INTAKE_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )
    dev_defaults: ClassVar[dict[str, str]] = {
        name: "must be set to a real secret in production"
        for name in ("resident_pepper", "vault_master_key", "rating_link_secret")
    }

    service_name: str = "intake"
    port: int = 8001
    # Keyed hash turning a phone number into a stable pseudonymous resident reference.
    resident_pepper: str = f"{DEV_SECRET_PREFIX}pepper-change-me"
    # Master key (32 bytes, hex) wrapping each resident's contact data key in the vault.
    vault_master_key: str = f"{DEV_SECRET_PREFIX}" + "0" * 55
    # Earlier master keys (comma-separated hex) still read while `jiesu vault rotate`
    # rewraps every resident's key with the current one.
    vault_previous_master_keys: str = ""
    # (dev keys: `dev-key-<channel>`, `dev-key-staff`, `dev-key-notify`, `dev-key-reporting`,
    # `dev-key-sms_gateway`, `dev-key-admin`)
    # A classification below these confidences goes to a person (GET /triage).
    classify_threshold: float = 0.6
    type_threshold: float = 0.45
    # A complaint of the same category at the same building/grid, or within the radius, filed
    # within the window before it, is offered as a likely duplicate.
    duplicate_window_days: float = 14.0
    duplicate_radius_m: float = 50.0
    # Public lookups by case number and phone tail, per client address and minute.
    lookup_rate_per_minute: int = 10
    # ...and per case number, from whatever addresses: a phone tail is four digits.
    lookup_rate_per_case_per_minute: int = 5
    # ...and wrong tails for one case number in all, ever (the lookup and WeChat ratings):
    # beyond it the tail opens nothing for that case (staff still can). A sweep over many
    # cases then gets this many tries of 10,000 on each, not five a minute for ever.
    lookup_max_misses: int = 10
    # Residents' contacts a person's key may read a minute (the notify key is not limited).
    contact_reads_per_minute: int = 20
    # Anonymous Open311 reads (services, requests, updates) per client address and minute.
    open311_reads_per_minute: int = 600
    # Complaints waiting for a person (triage) are to be accepted within this; warned at
    # `triage_warn_at` of it. The clock's loop looks at least every `triage_poll_interval_s`.
    triage_accept_within_h: float = 2.0
    triage_warn_at: float = 0.8
    triage_poll_interval_s: float = 60.0
    # The callback worklist (回访): how long after the unit reports the resident should be
    # called, and after how many callbacks in a row that reach nobody the complaint closes.
    callback_within_h: float = 72.0
    callback_max_unreached: int = 3
    # Open311's public feed shows the resident's own words (phone and ID numbers masked); off:
    # only the category and the building. Whistle-blowers' reports are never shown.
    open311_public_text: bool = False
    # The signed one-time rating link the resident's lookup offers (HMAC key, validity, and
    # the page it opens, the token after "#": GET /rate here unless a public site serves its own).
    rating_link_secret: str = f"{DEV_SECRET_PREFIX}rating-link-secret"
    rating_link_valid_h: float = 168.0
    rating_page_url: str = "http://127.0.0.1:8001/rate"
    # The WeChat official account's server token (服务器配置 Token; empty: POST /wechat is off)
    # and how old a signed push may be before it is refused as a replay.
    wechat_token: str = ""
    wechat_timestamp_window_s: int = 300

    @property
    def master_key_bytes(self) -> bytes:
        if self.vault_master_key.startswith(DEV_SECRET_PREFIX):
            return b"\x00" * 32
        return _master_key(self.vault_master_key, "INTAKE_VAULT_MASTER_KEY")

    @property
    def master_keys(self) -> tuple[bytes, ...]:
        """The current master key, then the earlier ones still read during a rotation."""
        previous = [k.strip() for k in self.vault_previous_master_keys.split(",") if k.strip()]
        return (
            self.master_key_bytes,
            *(_master_key(k, "INTAKE_VAULT_PREVIOUS_MASTER_KEYS") for k in previous),
        )


def _master_key(text: str, variable: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ValueError(f"{variable} must be 64 hex characters (32 bytes)")
    return key
