"""structlog for every service: one output path for structlog and stdlib loggers.

JSON lines when stdout is not a terminal (containers, the dev launcher's pipes, log shippers),
a readable colored console on a terminal. Values bound with ``structlog.contextvars`` (the
correlation id of the HTTP request or Kafka message being handled) are merged into every line,
including lines from stdlib loggers such as uvicorn's and aiokafka's, because both go through
the same :class:`structlog.stdlib.ProcessorFormatter`.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO

import orjson
import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, Processor, WrappedLogger

# Loggers that install their own handlers by default; we want them on the root handler only.
_FOREIGN_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "aiokafka",
    "faststream",
    "litestar",
    "asyncio",
)


def _json_dumps(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _service_adder(service: str | None) -> Processor:
    def add_service(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        if service is not None:
            event_dict.setdefault("service", service)
        return event_dict

    return add_service


def _drop_color_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # uvicorn passes an ANSI-colored copy of its message as `extra`; it is noise here.
    event_dict.pop("color_message", None)
    return event_dict


def wants_json(fmt: str, stream: TextIO) -> bool:
    if fmt == "json":
        return True
    if fmt == "console":
        return False
    return not stream.isatty()


def wants_color(stream: TextIO) -> bool:
    # The dev launcher pipes our output but shows it on a terminal: it sets FORCE_COLOR.
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or stream.isatty()


def configure_logging(
    *,
    level: str = "INFO",
    fmt: str = "auto",
    service: str | None = None,
    stream: TextIO | None = None,
) -> None:
    """Configure structlog and the stdlib root logger. Safe to call more than once."""
    stream = stream or sys.stdout
    as_json = wants_json(fmt, stream)

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _service_adder(service),
    ]

    structlog.configure(
        processors=[
            # First: a line below the level costs one check, not the timestamp and the rest.
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

    renderer: list[Processor]
    if as_json:
        # Tracebacks never carry local variables: they would print API keys, card numbers and
        # request bodies that happened to be in scope.
        renderer = [
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
            structlog.processors.JSONRenderer(serializer=_json_dumps),
        ]
    else:
        renderer = [
            structlog.dev.ConsoleRenderer(
                colors=wants_color(stream), exception_formatter=structlog.dev.plain_traceback
            )
        ]

    formatter = structlog.stdlib.ProcessorFormatter(
        # Records from stdlib loggers get the same context; ExtraAdder keeps their `extra=`.
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _drop_color_message],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())

    for name in _FOREIGN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # aiokafka narrates every group rebalance at INFO; keep it unless debugging is asked for.
    logging.getLogger("aiokafka").setLevel(
        logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    )
    # httpx writes every URL it requests at INFO, query strings (tokens...) included.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    logging.captureWarnings(True)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
