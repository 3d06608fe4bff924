"""Settings of the subscriptions service, read from the environment.

The variables every service shares (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, PORT, HOST,
LOG_LEVEL, DB_SCHEMA, ENV, ...) are described in servicekit.settings; only defaults differ.
"""

from pydantic import Field

from servicekit.settings import Port, ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "subscriptions"
    db_schema: str = "subscriptions"
    port: Port = 8101
    # How often every merchant's due renewals are looked for (RENEWAL_SCAN_INTERVAL, seconds).
    # A test clock advance triggers its own scan at once.
    renewal_scan_interval: float = Field(default=30.0, gt=0, le=3600)
    # Whether AdvanceTestClock is accepted (TEST_CLOCKS_ENABLED); unset: in development only.
    test_clocks_enabled: bool | None = None

    @property
    def test_clocks_allowed(self) -> bool:
        if self.test_clocks_enabled is not None:
            return self.test_clocks_enabled
        return self.env == "dev"
