"""Settings of the subscriptions service, read from the environment.

The variables every service shares (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, PORT, HOST,
LOG_LEVEL, DB_SCHEMA, ENV, ...) are described in servicekit.settings; only defaults differ.
"""

from servicekit.settings import Port, ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "subscriptions"
    db_schema: str = "subscriptions"
    port: Port = 8101
