"""Running a service process: uvicorn with a graceful, bounded shutdown.

On SIGTERM or SIGINT uvicorn stops accepting connections and lets in-flight requests finish
(bounded), then the app's lifespan stops the components in reverse order (bounded as well):
consumers stop and commit, background tasks such as the outbox relay finish their batch, the
producer flushes, the pool closes. If all that overruns the shutdown budget a watchdog ends
the process, so a stuck dependency can never keep it alive forever.

Exit status: 0 after a requested stop, 1 when a background task died or the port was taken,
2 for bad settings, 3 when startup failed (e.g. the database is unreachable).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, TypeVar

import asyncpg
import structlog
import uvicorn
from aiokafka.errors import KafkaError
from litestar import Litestar

from servicekit.heap import settle_after_startup
from servicekit.lifecycle import ComponentFailed
from servicekit.logging import configure_logging
from servicekit.settings import ServiceSettings, SettingsError, load_settings

if TYPE_CHECKING:
    from servicekit.service import Service

log = structlog.stdlib.get_logger("servicekit.runner")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_STARTUP = 3
EXIT_HARD_STOP = 70

# uvicorn gets this share of the shutdown budget for in-flight requests; the lifespan
# (components) gets its own share, see servicekit.service.
IN_FLIGHT_SHARE = 0.4
_HARD_STOP_MARGIN = 5.0


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, hard_stop_after: float) -> None:
        super().__init__(config)
        self.exit_code = EXIT_OK
        self._hard_stop_after = hard_stop_after
        self._watchdog: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises the captured signal once shut down, so the process would end
        # "killed by SIGTERM"; a stop that was asked for and completed is a success (exit 0),
        # which is what supervisors and the dev launcher expect.
        self._captured_signals.clear()
        self.arm_watchdog()

    def request_exit(self, exit_code: int) -> None:
        self.exit_code = max(self.exit_code, exit_code)
        self.should_exit = True
        self.arm_watchdog()

    def arm_watchdog(self) -> None:
        if self._watchdog is not None:
            return
        self._watchdog = threading.Timer(self._hard_stop_after, self._hard_stop)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _hard_stop(self) -> None:
        # Logging may be what is stuck: write straight to stderr.
        sys.stderr.write(
            f"shutdown did not finish within {self._hard_stop_after:.0f}s; exiting now\n"
        )
        sys.stderr.flush()
        os._exit(EXIT_HARD_STOP)


_current: _Server | None = None


def request_shutdown(reason: str, exit_code: int = EXIT_FAILURE) -> None:
    """Stop the running service gracefully from inside it (e.g. a vital task died)."""
    log.error("shutting down", reason=reason)
    if _current is not None:
        _current.request_exit(exit_code)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def run(app: Litestar, settings: ServiceSettings) -> int:
    """Serve ``app`` until SIGTERM/SIGINT; returns the process exit status.

    When ``app`` was built by :class:`servicekit.Service`, its components are started before
    the port accepts connections, and a component that cannot start is reported in one line
    (which component, why) instead of the ASGI lifespan's traceback.
    """
    global _current
    # Bind before anything starts: a taken port is reported at once.
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        log.error("cannot listen", host=settings.host, port=settings.port, error=str(exc))
        return EXIT_FAILURE
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_config=None,  # servicekit.logging routes uvicorn's loggers through structlog
        access_log=False,  # the correlation middleware writes one line per request instead
        server_header=False,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout * IN_FLIGHT_SHARE)),
    )
    server = _Server(config, hard_stop_after=settings.shutdown_timeout + _HARD_STOP_MARGIN)
    service: Service | None = getattr(app.state, "service", None)

    stopped_while_starting = False

    async def main() -> None:
        nonlocal stopped_while_starting
        if service is not None and not await _start_interruptibly(service):
            log.info("stopped while starting")
            stopped_while_starting = True
            return
        settle_after_startup()
        await server.serve(sockets=[sock])

    _current = server
    try:
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(main())
    except ComponentFailed as exc:
        log.error(
            "cannot start",
            component=exc.component,
            error=f"{type(exc.error).__name__}: {exc.error}",
            # A missing dependency needs no traceback; a bug in a component does.
            exc_info=None if _is_environmental(exc.error) else exc.error,
        )
        return EXIT_STARTUP
    finally:
        _current = None
        sock.close()
    if stopped_while_starting:
        return EXIT_OK
    if not server.started:
        return EXIT_STARTUP
    return server.exit_code


async def _start_interruptibly(service: Service) -> bool:
    """Start the service's components; False if SIGTERM/SIGINT came first.

    uvicorn installs its signal handlers only once it serves; until then a signal would
    kill the process with components half-started, so it cancels the start instead (the
    lifecycle then stops what had started).
    """
    loop = asyncio.get_running_loop()
    start = asyncio.create_task(service.start())
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, start.cancel)
    try:
        await start
    except asyncio.CancelledError:
        if not start.cancelled():
            raise
        return False
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
    return True


def _is_environmental(error: BaseException) -> bool:
    return isinstance(error, OSError | asyncpg.PostgresError | asyncpg.InterfaceError | KafkaError)


S = TypeVar("S", bound=ServiceSettings)


def serve(settings_class: type[S], create_app: Callable[[S], Litestar]) -> None:
    """The whole ``main()`` of a service: settings, logging, app, run, exit status."""
    try:
        settings = load_settings(settings_class)
    except SettingsError as exc:
        print(exc.message, file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
    configure_logging(
        level=settings.log_level, fmt=settings.log_format, service=settings.service_name
    )
    app = create_app(settings)
    raise SystemExit(run(app, settings))
