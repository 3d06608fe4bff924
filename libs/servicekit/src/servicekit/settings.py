"""Typed settings every service reads from its environment.

A service subclasses :class:`ServiceSettings` only to change defaults (its name, schema and
port) or to add its own variables. :func:`load_settings` turns a bad environment into a short
message naming each offending variable, instead of a pydantic traceback.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from billing_events.postgres import validate_schema_name

# A type rather than Field(...) on the attribute, so a service overriding the default port
# keeps the bounds.
Port = Annotated[int, Field(ge=1, le=65535)]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LogFormat = Literal["auto", "json", "console"]

# Never echoed back in an error message: they may carry a password.
_SECRET_FIELDS = frozenset({"database_url"})


class ServiceSettings(BaseSettings):
    """Settings shared by every service process. Variable names are the field names upper-cased."""

    model_config = SettingsConfigDict(
        env_prefix="",
        case_sensitive=False,
        extra="ignore",
        validate_default=True,
        frozen=True,
    )

    service_name: str = Field(default="service", min_length=1, max_length=60)
    env: Literal["dev", "prod"] = "dev"
    database_url: str = Field(description="postgresql://user:password@host:port/database")
    db_schema: str = "public"
    db_pool_size: int = Field(default=10, ge=1, le=200)
    kafka_bootstrap_servers: str = Field(description="host:port[,host:port...]")
    # Replication of the topics a service creates when they do not exist yet: 1 for one
    # broker (development), 3 for a production cluster.
    kafka_replication_factor: int = Field(default=1, ge=1, le=10)
    host: str = "127.0.0.1"
    port: Port = 8000
    log_level: LogLevel = "INFO"
    log_format: LogFormat = "auto"
    # How long to wait at start for PostgreSQL and Kafka (started alongside us) to answer.
    startup_timeout: float = Field(default=30.0, gt=0, le=600)
    # Upper bound for a graceful stop: in-flight requests, consumers committing, the relay.
    shutdown_timeout: float = Field(default=20.0, gt=0, le=600)

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("postgres", "postgresql"):
            raise ValueError("must be a postgresql:// URL")
        if not parts.hostname and "host=" not in parts.query:
            raise ValueError("must name a host, e.g. postgresql://postgres@127.0.0.1:5432/billing")
        return value

    @field_validator("db_schema")
    @classmethod
    def _schema(cls, value: str) -> str:
        return validate_schema_name(value)

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        servers = [s.strip() for s in value.split(",") if s.strip()]
        if not servers:
            raise ValueError("must list at least one host:port")
        for server in servers:
            host, sep, port = server.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{server!r} is not host:port")
        return ",".join(servers)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def bootstrap_servers(self) -> list[str]:
        return self.kafka_bootstrap_servers.split(",")

    @property
    def database_url_redacted(self) -> str:
        """The database URL without its password, for log lines and the startup banner."""
        return redact_url(self.database_url)


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class SettingsError(Exception):
    """The environment does not describe a valid configuration; carries a readable message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


S = TypeVar("S", bound=ServiceSettings)


def format_validation_error(cls: type[ServiceSettings], error: ValidationError) -> str:
    name = cls.model_fields["service_name"].default
    lines = [f"{name}: invalid configuration (set these environment variables):"]
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "?"
        variable = field.upper()
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            described = cls.model_fields[field].description if field in cls.model_fields else None
            hint = f" ({described})" if described else ""
            lines.append(f"  {variable}: required, not set{hint}")
            continue
        shown = "" if field in _SECRET_FIELDS else f" (got {item.get('input')!r})"
        lines.append(f"  {variable}: {message}{shown}")
    return "\n".join(lines)


def load_settings(cls: type[S]) -> S:
    """Read ``cls`` from the environment, or raise :class:`SettingsError` with a clear message."""
    try:
        return cls()
    except ValidationError as exc:
        raise SettingsError(format_validation_error(cls, exc)) from None
