"""Errors the gateway's use cases raise; the HTTP layer maps each to a status and JSON body.

``code`` is stable and machine-readable, ``message`` is for a human and never echoes secret
input (a card number, a CVC, an API key), ``param`` names the offending request field.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    status_code = 400
    code = "invalid_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param
        self.extra = extra or {}


class InvalidRequest(GatewayError):
    status_code = 400
    code = "parameter_invalid"


class ResourceMissing(GatewayError):
    """Unknown id, or an id of another merchant: the two are indistinguishable on purpose."""

    status_code = 404
    code = "resource_missing"


class Conflict(GatewayError):
    status_code = 409
    code = "conflict"


class PaymentFailed(GatewayError):
    """A card refused at attach, or a first charge declined: 402 like Stripe's card errors."""

    status_code = 402
    code = "card_declined"


class Unprocessable(GatewayError):
    status_code = 422
    code = "unprocessable"


class AuthenticationFailed(GatewayError):
    status_code = 401
    code = "authentication_required"


class PayloadTooLarge(GatewayError):
    status_code = 413
    code = "request_too_large"


class ServiceUnavailable(GatewayError):
    status_code = 503
    code = "service_unavailable"


class StillProcessing(GatewayError):
    """The bounded wait ran out: the command is queued and will be processed (HTTP 202).

    ``resource`` is what the read model shows so far (None if nothing yet), for the client to
    poll by ``resource_id``.
    """

    status_code = 202
    code = "timeout"

    def __init__(
        self,
        message: str,
        *,
        object_type: str,
        resource_id: str,
        resource: object | None = None,
    ) -> None:
        super().__init__(message)
        self.object_type = object_type
        self.resource_id = resource_id
        self.resource = resource


# Owner rejection codes whose answer the name alone does not tell (see the subscriptions
# service's domain/rejection.py). Everything else follows ``rejection_error``'s naming rules.
REJECTION_ERRORS: dict[str, type[GatewayError]] = {
    # The customer's card cannot carry the subscription: a card error, like a decline.
    "payment_method_expired": PaymentFailed,
    # Well-formed, but not something the owner will do.
    "currency_mismatch": Unprocessable,
    "invalid_command": Unprocessable,
    "clock_advance_too_far": Unprocessable,
    # The current state refuses it.
    "clock_backwards": Conflict,
    "test_clocks_disabled": Conflict,
    "subscription_ended": Conflict,
    "payment_method_unchanged": Conflict,
}


def rejection_error(code: str | None, message: str | None) -> GatewayError:
    """The HTTP-facing error for a command its owner rejected, keeping the owner's code."""
    code = code or "rejected"
    text = message or "The request was rejected."
    known = REJECTION_ERRORS.get(code)
    if known is not None:
        return known(text, code=code)
    lowered = code.lower()
    if "not_found" in lowered or lowered.startswith(("unknown", "no_such")) or "missing" in lowered:
        return ResourceMissing(text, code=code)
    if "invalid" in lowered:
        return InvalidRequest(text, code=code)
    return Conflict(text, code=code)
