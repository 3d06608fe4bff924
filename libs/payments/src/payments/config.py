"""Choosing and configuring the processor, shared by every service that tokenizes or charges.

The gateway (tokenizes) and invoicing (charges) must hold the same simulator secret, like two
services holding the same processor account key. Keeping the development default here, in the
one library both depend on, means they agree out of the box; production must set its own.
"""

from __future__ import annotations

from payments.processor import Clock, PaymentProcessor
from payments.simulated import SimulatedProcessor

SECRET_ENV_VAR = "PROCESSOR_SIM_SECRET"  # noqa: S105 (a variable name, not a secret)
# Public on purpose: it only protects development data. Services refuse it outside dev.
DEV_SIMULATOR_SECRET = "dev-only-simulated-processor-secret-do-not-use-in-prod"  # noqa: S105


class InsecureProcessorSecret(ValueError):
    """The development secret was configured where real data may live."""


def simulated_processor(secret: str, clock: Clock, *, env: str = "dev") -> PaymentProcessor:
    """The simulator keyed with ``secret``; refuses the public dev secret unless ``env`` is dev."""
    if env != "dev" and secret == DEV_SIMULATOR_SECRET:
        raise InsecureProcessorSecret(
            "the public development default is refused outside ENV=dev; set a secret of your own"
        )
    return SimulatedProcessor(secret.encode("utf-8"), clock)
