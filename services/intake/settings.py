"""Intake's settings (env prefix INTAKE_)."""

from __future__ import annotations

from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

_DEV_PREFIX = "dev-only-"


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="INTAKE_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    service_name: str = "intake"
    port: int = 8001
    # Keyed hash turning a phone number into a stable pseudonymous resident reference.
    resident_pepper: str = f"{_DEV_PREFIX}pepper-change-me"
    # Master key (32 bytes, hex) wrapping each resident's contact data key in the vault.
    vault_master_key: str = f"{_DEV_PREFIX}" + "0" * 55

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> IntakeSettings:
        if self.environment == "production":
            for name in ("resident_pepper", "vault_master_key"):
                if getattr(self, name).startswith(_DEV_PREFIX):
                    raise ValueError(
                        f"INTAKE_{name.upper()} must be set to a real secret in production"
                    )
        return self

    @property
    def master_key_bytes(self) -> bytes:
        if self.vault_master_key.startswith(_DEV_PREFIX):
            return b"\x00" * 32
        key = bytes.fromhex(self.vault_master_key)
        if len(key) != 32:
            raise ValueError("INTAKE_VAULT_MASTER_KEY must be 64 hex characters (32 bytes)")
        return key
