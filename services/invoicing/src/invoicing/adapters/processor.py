"""The payment processor invoicing charges through, chosen from settings."""

from __future__ import annotations

from payments import PaymentProcessor, simulated_processor
from payments.processor import Clock


def configured_processor(secret: str, clock: Clock, *, env: str) -> PaymentProcessor:
    """The simulated processor keyed with ``PROCESSOR_SIM_SECRET`` (the gateway's too).

    A real processor adapter would be chosen here by a setting; the simulator is the only one
    so far.
    """
    return simulated_processor(secret, clock, env=env)
