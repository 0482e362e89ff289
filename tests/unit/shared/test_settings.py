from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from services.dispatch.settings import DispatchSettings
from services.intake.settings import IntakeSettings
from services.notify.settings import NotifySettings
from services.reporting.settings import ReportingSettings
from shared.settings import ServiceSettings

ENV_EXAMPLE = Path(__file__).resolve().parents[3] / ".env.example"
SECRETS_EXAMPLE = Path(__file__).resolve().parents[3] / "deploy/k8s/secrets.example.yaml"
SERVICES = [IntakeSettings, DispatchSettings, NotifySettings, ReportingSettings]


def _variable(settings_class: type[ServiceSettings], name: str) -> str:
    field = settings_class.model_fields[name]
    if field.validation_alias is not None:
        return field.validation_alias.choices[0]  # type: ignore[union-attr]
    return settings_class.model_config["env_prefix"] + name.upper()


@pytest.mark.parametrize("settings_class", SERVICES)
def test_every_setting_is_listed_in_env_example(settings_class):
    listed = {
        line.split("=", 1)[0].strip()
        for line in ENV_EXAMPLE.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    variables = {
        _variable(settings_class, n) for n in settings_class.model_fields if n != "service_name"
    }
    assert variables - listed == set()


def test_the_service_database_defaults_to_its_own_database_on_the_given_server(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.example:5433/postgres")
    monkeypatch.delenv("DISPATCH_DATABASE_URL", raising=False)
    assert DispatchSettings().database_url == "postgresql://u@db.example:5433/jiesu_dispatch"


def test_production_refuses_development_secrets(monkeypatch):
    monkeypatch.setenv("JIESU_ENV", "production")
    with pytest.raises(ValidationError, match="INTAKE_RESIDENT_PEPPER"):
        IntakeSettings()
    with pytest.raises(ValidationError, match="NOTIFY_SMS_API_KEY"):
        NotifySettings()
    with pytest.raises(ValidationError, match="REPORTING_INTAKE_KEY"):
        ReportingSettings()
    monkeypatch.setenv("REPORTING_INTAKE_KEY", "js_a-real-intake-reporting-key")
    # The console's keys at the other services: development keys do not open production doors.
    for service in ("intake", "dispatch", "notify"):
        with pytest.raises(ValidationError, match=f"REPORTING_CONSOLE_{service.upper()}_KEY"):
            ReportingSettings()
        monkeypatch.setenv(f"REPORTING_CONSOLE_{service.upper()}_KEY", f"js_a-real-{service}-key")
    assert ReportingSettings().intake_keys().api_key == "js_a-real-intake-reporting-key"
    monkeypatch.setenv("INTAKE_RESIDENT_PEPPER", "a-real-pepper-from-the-vault")
    monkeypatch.setenv("INTAKE_VAULT_MASTER_KEY", "ab" * 32)
    with pytest.raises(ValidationError, match="INTAKE_RATING_LINK_SECRET"):
        IntakeSettings()
    monkeypatch.setenv("INTAKE_RATING_LINK_SECRET", "a-real-rating-link-secret")
    assert IntakeSettings().master_key_bytes == bytes.fromhex("ab" * 32)


@pytest.mark.parametrize("settings_class", SERVICES)
def test_production_refuses_the_example_files_placeholders(monkeypatch, settings_class):
    """Every value of deploy/k8s/secrets.example.yaml left as it is stops a production start."""
    secrets = yaml.safe_load(SECRETS_EXAMPLE.read_text())["stringData"]
    monkeypatch.setenv("JIESU_ENV", "production")
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match="CHANGE") as refused:
        settings_class()
    assert "server_database_url" in str(refused.value)
