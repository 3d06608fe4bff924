"""Ordered start and reverse-ordered stop of a service's components.

Components are started in the order they were added (the pool before what uses it, the broker's
producer before the relay that publishes through it, consumers last) and stopped in reverse.
A component that fails to start stops everything already started, then the error propagates
so the process exits instead of serving half-wired. Stopping is bounded: each stop gets what
is left of the shutdown budget, and one that overruns is abandoned with a warning so that the
others still stop.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.stdlib.get_logger("servicekit.lifecycle")

StartFn = Callable[[], Awaitable[Any]]
StopFn = Callable[[], Awaitable[Any]]
TaskFactory = Callable[[], Coroutine[Any, Any, Any]]
# A task's stop request may be plain (set a flag) or a coroutine function.
StopRequest = Callable[[], Awaitable[Any] | None]


class ComponentFailed(RuntimeError):
    """A component could not start; names it."""

    def __init__(self, name: str, error: BaseException) -> None:
        super().__init__(f"{name} failed to start: {type(error).__name__}: {error}")
        self.component = name
        self.error = error


@dataclass
class Component:
    name: str
    start: StartFn
    stop: StopFn | None


class BackgroundTask:
    """A long-running coroutine (outbox relay, scheduler) owned by the lifecycle.

    Stopping calls ``stop`` if given (so the loop can finish its batch and return) and waits
    for the task; without ``stop``, or if the task does not return in time, it is cancelled.
    A task that ends on its own while the service runs is a failure: it is logged, the
    readiness check reports it, and ``on_crash`` (set by the runner) shuts the process down
    so a supervisor restarts it, rather than leaving a service that silently stopped working.
    """

    def __init__(self, name: str, factory: TaskFactory, stop: StopRequest | None = None) -> None:
        self.name = name
        self._factory = factory
        self._stop = stop
        self._task: asyncio.Task[Any] | None = None
        self._stopping = False
        self.on_crash: Callable[[str, BaseException | None], None] | None = None

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._factory(), name=self.name)
        self._task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        if self._stopping:
            return
        error = None if task.cancelled() else task.exception()
        log.error("background task ended unexpectedly", task=self.name, exc_info=error)
        if self.on_crash is not None:
            self.on_crash(self.name, error)

    async def stop(self, timeout: float) -> None:
        task, self._task = self._task, None
        if task is None or task.done():
            return
        self._stopping = True
        if self._stop is not None:
            try:
                async with asyncio.timeout(timeout):
                    requested = self._stop()
                    if inspect.isawaitable(requested):
                        await requested
                    await asyncio.shield(task)
                return
            except TimeoutError:
                log.warning("background task did not stop in time; cancelling", task=self.name)
            except Exception:
                log.exception("background task failed while stopping", task=self.name)
                return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("background task failed while stopping", task=self.name)

    async def check(self) -> str:
        if self._task is None:
            raise RuntimeError("not started")
        if self._task.done():
            raise RuntimeError("stopped unexpectedly")
        return "running"


class Lifecycle:
    def __init__(self) -> None:
        self._components: list[Component] = []
        self._started: list[Component] = []

    @property
    def names(self) -> list[str]:
        return [c.name for c in self._components]

    def components(self) -> list[Component]:
        return list(self._components)

    def add(self, name: str, start: StartFn, stop: StopFn | None = None) -> None:
        if name in self.names:
            raise ValueError(f"component {name!r} registered twice")
        self._components.append(Component(name, start, stop))

    async def start(self) -> None:
        for component in self._components:
            started = time.perf_counter()
            try:
                await component.start()
            except asyncio.CancelledError:
                # Stopped while starting (SIGTERM during start): undo, then let it through.
                await self.stop(timeout=10.0)
                raise
            except Exception as exc:
                # Whoever started us reports the failure; we only undo what was started.
                await self.stop(timeout=10.0)
                raise ComponentFailed(component.name, exc) from exc
            self._started.append(component)
            log.debug(
                "component started",
                component=component.name,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )

    async def stop(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._started:
            component = self._started.pop()
            if component.stop is None:
                continue
            # Every component gets at least a second, even when an earlier one overran.
            remaining = max(deadline - time.monotonic(), 1.0)
            try:
                async with asyncio.timeout(remaining):
                    await component.stop()
            except TimeoutError:
                log.warning("component did not stop in time", component=component.name)
            except Exception:
                log.exception("component failed to stop", component=component.name)
            else:
                log.debug("component stopped", component=component.name)
