from __future__ import annotations

import io

import pytest
import structlog

from servicekit.logging import configure_logging


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_tracebacks_never_print_local_variables(fmt: str) -> None:
    stream = io.StringIO()
    configure_logging(fmt=fmt, stream=stream, service="test")

    def charge() -> None:
        card_number = "4242424242424242"  # noqa: F841 - the secret in scope when it fails
        raise ValueError("declined")

    try:
        charge()
    except ValueError:
        structlog.get_logger().exception("charge failed")
    output = stream.getvalue()
    assert "declined" in output
    assert "4242424242424242" not in output
