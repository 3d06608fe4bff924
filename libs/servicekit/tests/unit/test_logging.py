"""Log lines: JSON off a terminal, the bound correlation id on every line, stdlib included."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.typing import EventDict

from servicekit.correlation import correlation_context
from servicekit.logging import configure_logging, get_logger


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_correlation_id_from_structlog_and_stdlib() -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", fmt="auto", service="sample", stream=stream)
    with correlation_context("corr-1"):
        get_logger("sample.app").info("charged", amount=1200)
        logging.getLogger("uvicorn.error").warning("from %s", "stdlib", extra={"topic": "t"})
    get_logger("sample.app").info("outside")

    first, second, third = lines(stream)
    assert first["event"] == "charged"
    assert first["amount"] == 1200
    assert first["correlation_id"] == "corr-1"
    assert first["service"] == "sample"
    assert first["level"] == "info"
    assert str(first["timestamp"]).endswith("Z")
    assert second["event"] == "from stdlib"
    assert second["correlation_id"] == "corr-1"
    assert second["logger"] == "uvicorn.error"
    assert second["topic"] == "t"
    assert "correlation_id" not in third


def test_exceptions_are_structured_in_json() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, fmt="json")
    try:
        raise ValueError("boom")
    except ValueError:
        get_logger("x").exception("failed")
    [line] = lines(stream)
    assert line["event"] == "failed"
    assert "ValueError" in json.dumps(line["exception"])


def test_a_terminal_gets_readable_lines_and_levels_filter() -> None:
    stream = FakeTty()
    configure_logging(level="WARNING", fmt="auto", stream=stream)
    get_logger("x").info("hidden")
    get_logger("x").warning("shown", key="value")
    output = stream.getvalue()
    assert "hidden" not in output
    assert "shown" in output
    assert "key" in output
    assert not output.lstrip().startswith("{")


def test_a_line_below_the_level_is_dropped_before_any_processing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stamped: list[str] = []
    stamp = structlog.processors.TimeStamper.__call__

    def counting_stamp(
        self: structlog.processors.TimeStamper, logger: Any, name: str, event_dict: EventDict
    ) -> EventDict:
        stamped.append(str(event_dict["event"]))
        return stamp(self, logger, name, event_dict)

    monkeypatch.setattr(structlog.processors.TimeStamper, "__call__", counting_stamp)
    stream = io.StringIO()
    configure_logging(level="WARNING", fmt="json", stream=stream)
    get_logger("x").info("per message, below the level")
    get_logger("x").warning("shown")
    assert stamped == ["shown"]
    assert [line["event"] for line in lines(stream)] == ["shown"]
