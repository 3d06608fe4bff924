"""How the portal behaves in one deployment; built by the gateway's composition root."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from portal_gateway.portal.access import IDLE_TTL, LINK_TTL


@dataclass(frozen=True)
class PortalSettings:
    # Outside local development the cookie is Secure (and __Host- prefixed) and HSTS is sent.
    secure_cookies: bool = True
    # Whether a cancellation waits for the end of the paid period. A per-merchant setting
    # later; until then the same for every merchant (immediate, as the skeleton specifies).
    cancel_at_period_end: bool = False
    # Upper bound on waiting for the projection to show a command's outcome.
    command_timeout: float = 5.0
    link_ttl: timedelta = LINK_TTL
    idle_ttl: timedelta = IDLE_TTL

    def __post_init__(self) -> None:
        if self.command_timeout <= 0:
            raise ValueError("command_timeout must be positive")
        if self.link_ttl <= timedelta(0) or self.idle_ttl <= timedelta(0):
            raise ValueError("link_ttl and idle_ttl must be positive")

    @classmethod
    def for_env(cls, env: Literal["dev", "prod"], **overrides: object) -> PortalSettings:
        """Local development serves plain http on 127.0.0.1, where a Secure cookie would
        never come back; every other environment gets the secure defaults."""
        values: dict[str, object] = {"secure_cookies": env != "dev", **overrides}
        return cls(**values)  # type: ignore[arg-type]

    @property
    def cookie_name(self) -> str:
        # The __Host- prefix makes browsers refuse the cookie unless it is Secure, host-only
        # and for path /, so a sibling subdomain cannot plant or shadow it.
        return "__Host-portal_session" if self.secure_cookies else "portal_session"
