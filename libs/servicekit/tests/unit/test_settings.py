"""Settings come from the environment; a bad environment gives a short, readable message."""

from __future__ import annotations

import pytest

from servicekit.settings import Port, ServiceSettings, SettingsError, load_settings, redact_url

GOOD = {
    "DATABASE_URL": "postgresql://billing:s3cret@db.internal:5432/billing",
    "KAFKA_BOOTSTRAP_SERVERS": "kafka-0:9092, kafka-1:9092",
}


class Sample(ServiceSettings):
    service_name: str = "sample"
    db_schema: str = "sample"
    port: Port = 8101


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "PORT",
        "HOST",
        "LOG_LEVEL",
        "DB_SCHEMA",
        "SERVICE_NAME",
        "ENV",
        "LOG_FORMAT",
        "DATABASE_URL",
        "KAFKA_BOOTSTRAP_SERVERS",
        "SHUTDOWN_TIMEOUT",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_defaults_are_the_service_s_own(env: pytest.MonkeyPatch) -> None:
    settings = load_settings(Sample)
    assert settings.service_name == "sample"
    assert settings.db_schema == "sample"
    assert settings.port == 8101
    assert settings.host == "127.0.0.1"
    assert settings.env == "dev"
    assert settings.log_level == "INFO"
    assert settings.bootstrap_servers == ["kafka-0:9092", "kafka-1:9092"]


def test_environment_overrides_defaults(env: pytest.MonkeyPatch) -> None:
    env.setenv("PORT", "9000")
    env.setenv("LOG_LEVEL", "debug")
    env.setenv("DB_SCHEMA", "other_schema")
    env.setenv("ENV", "prod")
    settings = load_settings(Sample)
    assert (settings.port, settings.log_level, settings.db_schema, settings.env) == (
        9000,
        "DEBUG",
        "other_schema",
        "prod",
    )


def test_every_bad_variable_is_named_in_one_message(env: pytest.MonkeyPatch) -> None:
    env.setenv("PORT", "0")  # the subclass default keeps the base class bounds
    env.setenv("LOG_LEVEL", "loud")
    env.setenv("DB_SCHEMA", "Robert'); DROP TABLE")
    env.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka")
    env.setenv("ENV", "staging")
    with pytest.raises(SettingsError) as caught:
        load_settings(Sample)
    message = caught.value.message
    assert message.startswith("sample: invalid configuration")
    for variable in ("PORT", "LOG_LEVEL", "DB_SCHEMA", "KAFKA_BOOTSTRAP_SERVERS", "ENV"):
        assert f"\n  {variable}: " in message
    assert "Traceback" not in message
    assert "pydantic" not in message.lower()


def test_missing_required_variables_are_explained(env: pytest.MonkeyPatch) -> None:
    env.delenv("DATABASE_URL")
    env.delenv("KAFKA_BOOTSTRAP_SERVERS")
    with pytest.raises(SettingsError) as caught:
        load_settings(Sample)
    assert "DATABASE_URL: required, not set (postgresql://" in caught.value.message
    assert "KAFKA_BOOTSTRAP_SERVERS: required, not set (host:port" in caught.value.message


def test_a_bad_database_url_is_not_echoed(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATABASE_URL", "mysql://root:hunter2@db/billing")
    with pytest.raises(SettingsError) as caught:
        load_settings(Sample)
    assert "DATABASE_URL: must be a postgresql:// URL" in caught.value.message
    assert "hunter2" not in caught.value.message


def test_the_database_password_is_redacted_for_logs(env: pytest.MonkeyPatch) -> None:
    settings = load_settings(Sample)
    assert settings.database_url_redacted == "postgresql://billing:***@db.internal:5432/billing"
    assert (
        redact_url("postgresql://postgres@127.0.0.1/test") == "postgresql://postgres@127.0.0.1/test"
    )
