"""Read-your-writes: wake a waiting request as soon as the projection commits what it awaits.

The projection handler ends each transaction with ``pg_notify`` naming the keys of the event
(its command, stream and correlation). One connection per process LISTENs and fans each
notification out to the requests waiting on one of those keys; a woken request re-reads the
read model. Notifications are a shortcut, not the truth: every waiter also re-checks
periodically, so a lost listening connection only costs latency, never a wrong answer. The
re-checks are frequent only while nothing listens: under a backlog of hundreds of waiting
requests, re-reading every half second while notifications work would take the database
connections the projection itself needs to catch up, and the backlog would feed itself.

A second channel carries operator signals between gateway processes (a projection rebuild
started: restart your consumer with the new group).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from typing import Any, TypeVar

import asyncpg
import orjson
import structlog

from portal_gateway.adapters.postgres.projector import NOTIFY_CHANNEL_PREFIX

log = structlog.stdlib.get_logger(__name__)

T = TypeVar("T")
ControlHandler = Callable[[str], Coroutine[Any, Any, None]]

CONTROL_CHANNEL_PREFIX = "gw_control_"


async def send_control(conn: asyncpg.Connection, message: str) -> None:
    """Tell every gateway process sharing this schema (delivered at commit)."""
    await conn.execute(
        f"SELECT pg_notify('{CONTROL_CHANNEL_PREFIX}' || current_schema(), $1)", message
    )


class ProjectionSignals:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        recheck_interval: float = 0.5,
        listening_recheck_interval: float = 5.0,
        reconnect_delay: float = 1.0,
    ) -> None:
        self._pool = pool
        self._recheck = recheck_interval
        self._listening_recheck = max(recheck_interval, listening_recheck_interval)
        self._reconnect_delay = reconnect_delay
        self._waiters: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self._control_handlers: list[ControlHandler] = []
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._stopping = asyncio.Event()
        self._listener_pid: int | None = None

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    @property
    def listener_pid(self) -> int | None:
        """The PostgreSQL backend of the listening connection (for operators and tests)."""
        return self._listener_pid if self.listening else None

    def on_control(self, handler: ControlHandler) -> None:
        self._control_handlers.append(handler)

    async def start(self, *, ready_timeout: float = 10.0) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._listen_forever(), name="projection-signals")
        # Start serving only once wake-ups work; if they do not (yet), waiters still poll.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), ready_timeout)

    async def stop(self) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def check(self) -> str:
        """Readiness detail; never fails: without the listener waiters fall back to polling."""
        return "listening" if self.listening else "polling (listener reconnecting)"

    # --- waiting ------------------------------------------------------------------------

    @contextlib.contextmanager
    def watch(self, keys: Iterable[str]) -> Iterator[asyncio.Event]:
        """An event set whenever a notification names one of ``keys``, while in the block."""
        event = asyncio.Event()
        watched = list(dict.fromkeys(keys))
        for key in watched:
            self._waiters[key].add(event)
        try:
            yield event
        finally:
            for key in watched:
                waiting = self._waiters.get(key)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._waiters[key]

    async def wait_for(
        self,
        keys: Iterable[str],
        check: Callable[[], Awaitable[T | None]],
        timeout: float,
        *,
        watching: asyncio.Event | None = None,
    ) -> T | None:
        """Re-run ``check`` on every notification for ``keys`` (and every recheck interval)
        until it returns something, or ``timeout`` seconds pass (then None).

        Pass ``watching`` from :meth:`watch` when the thing awaited is caused inside the
        block (sending a command): watching before sending cannot miss the notification, and
        while the listener is up the first check waits for it.
        """
        if watching is not None:
            # Watched since before it was caused: while notifications arrive, nothing can be
            # found before one does, so the check that would only come up empty is skipped.
            return await self._wait(watching, check, timeout, check_at_once=not self.listening)
        with self.watch(keys) as event:
            return await self._wait(event, check, timeout)

    async def _wait(
        self,
        event: asyncio.Event,
        check: Callable[[], Awaitable[T | None]],
        timeout: float,
        *,
        check_at_once: bool = True,
    ) -> T | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if not check_at_once:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(timeout, self._listening_recheck))
        while True:
            # Cleared before checking: a notification during the check wakes the next wait.
            event.clear()
            result = await check()
            if result is not None:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            # Losing the listener wakes every waiter (_wake_everyone): none sleeps through it.
            recheck = self._listening_recheck if self.listening else self._recheck
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, recheck))

    # --- listening ----------------------------------------------------------------------

    def _on_projection(
        self, _conn: asyncpg.Connection, _pid: int, _channel: str, payload: str
    ) -> None:
        try:
            keys = orjson.loads(payload)
        except orjson.JSONDecodeError:
            log.warning("malformed projection notification ignored")
            return
        if not isinstance(keys, list):
            return
        for key in keys:
            for event in self._waiters.get(str(key), ()):
                event.set()

    def _on_control(
        self, _conn: asyncpg.Connection, _pid: int, _channel: str, payload: str
    ) -> None:
        for handler in self._control_handlers:
            task: asyncio.Task[None] = asyncio.get_running_loop().create_task(handler(payload))
            task.add_done_callback(_log_control_failure)

    async def _listen_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "projection listener lost; waiters poll until it is back", error=repr(exc)
                )
            self._listening.clear()
            self._wake_everyone()  # what was missed meanwhile is found by re-checking
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._reconnect_delay)

    async def _listen_once(self) -> None:
        lost = asyncio.Event()

        def on_termination(_conn: asyncpg.Connection) -> None:
            lost.set()

        async with self._pool.acquire() as conn:
            schema = await conn.fetchval("SELECT current_schema()")
            projection_channel = f"{NOTIFY_CHANNEL_PREFIX}{schema}"
            control_channel = f"{CONTROL_CHANNEL_PREFIX}{schema}"
            conn.add_termination_listener(on_termination)
            await conn.add_listener(projection_channel, self._on_projection)
            await conn.add_listener(control_channel, self._on_control)
            try:
                self._listener_pid = conn.get_server_pid()
                self._listening.set()
                self._wake_everyone()
                # asyncpg delivers notifications as they arrive; this only watches the link.
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), 5.0)
                    if not lost.is_set():
                        await conn.fetchval("SELECT 1")
            finally:
                self._listening.clear()
                conn.remove_termination_listener(on_termination)
                if not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.remove_listener(projection_channel, self._on_projection)
                        await conn.remove_listener(control_channel, self._on_control)

    def _wake_everyone(self) -> None:
        for events in self._waiters.values():
            for event in events:
                event.set()


def _log_control_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("control signal handler failed", exc_info=task.exception())
