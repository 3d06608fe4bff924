"""Settings of the notifications service, read from the environment.

The variables every service shares (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, PORT, HOST,
LOG_LEVEL, DB_SCHEMA, ENV, ...) are described in servicekit.settings. This service also
needs the SMTP server it sends mail through (the dev launcher points it at its mail sink).
"""

from servicekit.settings import Port, ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "notifications"
    db_schema: str = "notifications"
    port: Port = 8103
    smtp_host: str = "127.0.0.1"
    smtp_port: Port = 1025
