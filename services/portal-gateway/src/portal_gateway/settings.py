"""Settings of the portal gateway, read from the environment.

The variables every service shares (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, PORT, HOST,
LOG_LEVEL, DB_SCHEMA, ENV, ...) are described in servicekit.settings. The gateway also needs
the URL customers reach it at (behind a load balancer that is not HOST:PORT), to build the
portal links it hands out.
"""

from pydantic import Field, SecretStr, field_validator

from payments import DEV_SIMULATOR_SECRET
from servicekit.settings import Port, ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "portal-gateway"
    db_schema: str = "gateway"
    port: Port = 8000
    public_base_url: str | None = None

    # --- merchant API, command path and projections (portal_gateway.bootstrap) -----------
    # Bearer token of the operator API (/admin, used by billingctl); unset: /admin is closed.
    admin_token: SecretStr | None = None
    # The simulated processor's account key, shared with invoicing (which charges tokens).
    processor_sim_secret: SecretStr = SecretStr(DEV_SIMULATOR_SECRET)
    # Bounded waits for read-your-writes: a command's outcome, a first charge's decision.
    command_timeout: float = Field(default=5.0, gt=0, le=60)
    activation_timeout: float = Field(default=20.0, gt=0, le=120)
    # Connections of the background work (projection consumer, outbox relay, LISTEN), apart
    # from DB_POOL_SIZE's request pool: a burst of requests must not starve the projection
    # that the requests themselves wait for.
    background_pool_size: int = Field(default=4, ge=2, le=50)
    # Unknown keys are never remembered: a new key works at once, a revoked one keeps
    # working in each gateway process until its entry expires.
    api_key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description=(
            "Seconds a valid API key is remembered in-process (0 disables). Revoking a key "
            "(api_keys.revoked_at) takes effect within this time."
        ),
    )

    @field_validator("public_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def public_url(self) -> str:
        """Where customers reach the gateway: PUBLIC_BASE_URL, else this process's address."""
        if self.public_base_url:
            return self.public_base_url
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"
