"""The composition refuses an unusable processor secret before anything starts."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from invoicing.bootstrap import install
from invoicing.settings import Settings
from payments import DEV_SIMULATOR_SECRET, SimulatedProcessor
from servicekit.service import Service
from servicekit.settings import SettingsError


def settings(**overrides: object) -> Settings:
    return Settings(
        database_url="postgresql://postgres@127.0.0.1:5432/test",
        kafka_bootstrap_servers="127.0.0.1:9092",
        **overrides,  # type: ignore[arg-type]
    )


def test_dev_uses_the_shared_development_secret() -> None:
    config = settings()
    assert config.processor_sim_secret.get_secret_value() == DEV_SIMULATOR_SECRET
    wiring = install(Service(config), config)
    assert isinstance(wiring.processor, SimulatedProcessor)
    sql = " ".join(m.sql for m in wiring.service.migrations)
    assert "invoice_number_counters" in sql
    assert "subscription_terms" in sql


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"env": "prod"}, "development default"),
        ({"processor_sim_secret": SecretStr("short")}, "16 bytes"),
    ],
)
def test_an_unusable_secret_is_a_configuration_error(
    overrides: dict[str, object], reason: str
) -> None:
    config = settings(**overrides)
    with pytest.raises(SettingsError, match="PROCESSOR_SIM_SECRET") as raised:
        install(Service(config), config)
    assert reason in raised.value.message
    assert "short" not in raised.value.message  # the secret itself is never shown


def test_prod_with_its_own_secret_starts() -> None:
    config = settings(env="prod", processor_sim_secret=SecretStr("a-production-secret-of-length"))
    assert isinstance(install(Service(config), config).processor, SimulatedProcessor)
