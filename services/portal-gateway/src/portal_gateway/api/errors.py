"""Every error the HTTP API answers is JSON: ``{"error": {"code", "message", "param"?}}``.

Codes are stable. Messages never quote the request: a rejected card number or CVC, or a wrong
API key, must not come back in a response or go into a log line. Validation errors are built
from the field path and the validator's message only, never from the offending input.

Route handlers are wrapped in :func:`json_errors`, which turns every exception into a response
*inside* the handler. An exception that escaped to Litestar would reach the app's
``after_exception`` hooks, and a traceback rendered with local variables would show the
request (its Authorization header, its parsed JSON with a card number). Unexpected errors are
logged here instead, as plain traceback text without locals.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import orjson
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap, Send
from pydantic import ValidationError

from portal_gateway.application.errors import AuthenticationFailed, GatewayError, StillProcessing
from servicekit.correlation import current_correlation_id

log = structlog.stdlib.get_logger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_STATUS_CODES = {
    400: "invalid_request",
    401: "authentication_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
}


class ApiError(HTTPException):
    """A :class:`GatewayError` raised by a middleware, on its way to becoming a response.

    An ``HTTPException`` so that Litestar (and servicekit's logging of unhandled exceptions)
    treats it as an answer to the client, not as a failure of ours.
    """

    def __init__(self, error: GatewayError) -> None:
        super().__init__(detail=error.message, status_code=error.status_code)
        self.error = error


def error_body(code: str, message: str, param: str | None = None, **extra: Any) -> dict[str, Any]:
    detail: dict[str, Any] = {"code": code, "message": message}
    if param is not None:
        detail["param"] = param
    detail.update({k: v for k, v in extra.items() if v is not None})
    return {"error": detail}


def error_response(
    status: int,
    code: str,
    message: str,
    param: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[Any]:
    return Response(
        error_body(code, message, param, **extra), status_code=status, headers=headers or {}
    )


def gateway_error_response(exc: GatewayError) -> Response[Any]:
    if isinstance(exc, StillProcessing):
        return processing_response(exc)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationFailed) else None
    return error_response(
        exc.status_code, exc.code, exc.message, exc.param, headers=headers, **exc.extra
    )


def processing_response(exc: StillProcessing) -> Response[Any]:
    from portal_gateway.api.presenters import present_resource

    body: dict[str, Any]
    if exc.resource is not None:
        body = present_resource(exc.resource)
    else:
        body = {"id": exc.resource_id, "object": exc.object_type, "status": "processing"}
    body["code"] = exc.code
    body["message"] = exc.message
    return Response(body, status_code=202)


def log_unexpected(exc: BaseException, **context: Any) -> None:
    """Log an unexpected error with its traceback as text: no local variables, which may hold
    a card, a key or a customer's data."""
    log.error(
        "internal error",
        error_type=type(exc).__name__,
        traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        **context,
    )


def internal_error_message() -> str:
    correlation = current_correlation_id()
    suffix = f" Quote {correlation} to support." if correlation else ""
    return f"An internal error occurred.{suffix}"


def internal_error_response(exc: BaseException, **context: Any) -> Response[Any]:
    log_unexpected(exc, **context)
    return error_response(
        HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", internal_error_message()
    )


def json_errors(
    handler: Callable[P, Awaitable[T]],
) -> Callable[P, Awaitable[T | Response[Any]]]:
    """Answer a route's errors as JSON responses without letting the exception escape."""

    @functools.wraps(handler)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T | Response[Any]:
        try:
            return await handler(*args, **kwargs)
        except GatewayError as exc:
            return gateway_error_response(exc)
        except ValidationError as exc:
            return pydantic_error_response(exc)
        except Exception as exc:
            return internal_error_response(exc, handler=handler.__qualname__)

    return run


async def send_error(send: Send, status: int, code: str, message: str) -> None:
    """Answer from an ASGI middleware without raising (see the module docstring)."""
    body = orjson.dumps(error_body(code, message))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


# --- Litestar exception handlers: what is raised before or around the handlers ------------


def api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    return gateway_error_response(exc.error)


def gateway_error(_: Request[Any, Any, Any], exc: GatewayError) -> Response[Any]:
    return gateway_error_response(exc)


def validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Litestar's request validation: the first problem, by field, without the input."""
    problems = exc.extra if isinstance(exc.extra, list) else []
    for problem in problems:
        if not isinstance(problem, dict):
            continue
        param = problem.get("key")
        message = str(problem.get("message") or "Invalid value.")
        code = "parameter_missing" if _is_missing(message) else "parameter_invalid"
        return error_response(400, code, _field_message(param, message), param or None)
    return error_response(400, "invalid_request", _safe_detail(exc.detail))


def pydantic_error_response(exc: ValidationError) -> Response[Any]:
    """A model built by a use case refused a value (a safety net behind the request models)."""
    for item in exc.errors(include_input=False, include_url=False):
        param = ".".join(str(part) for part in item["loc"]) or None
        message = item["msg"].removeprefix("Value error, ")
        return error_response(400, "parameter_invalid", _field_message(param, message), param)
    return error_response(400, "parameter_invalid", "Invalid request.")


def pydantic_error(_: Request[Any, Any, Any], exc: ValidationError) -> Response[Any]:
    return pydantic_error_response(exc)


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        return error_response(status, "service_unavailable", "The service is unavailable.")
    code = _STATUS_CODES.get(status, "invalid_request")
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_response(status, code, _safe_detail(exc.detail), headers=headers)


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return internal_error_response(exc, method=request.method, path=request.url.path)


def exception_handlers() -> ExceptionHandlersMap:
    return {
        ApiError: api_error,
        GatewayError: gateway_error,
        ValidationException: validation_error,
        ValidationError: pydantic_error,
        HTTPException: http_error,
        Exception: internal_error,
    }


def _is_missing(message: str) -> bool:
    lowered = message.lower()
    return "required" in lowered or "missing" in lowered


def _field_message(param: str | None, message: str) -> str:
    return f"{param}: {message}" if param else message


def _safe_detail(detail: str) -> str:
    # Litestar's details name the problem ("JSON is malformed: ... (byte 12)"), never the body.
    return detail[:300] if detail else "Invalid request."
