"""``billing-dev`` (``make dev``): the whole billing system on this machine, without Docker.

It finds or starts PostgreSQL and a Kafka-protocol broker (see ``devstack``), creates the
topics, starts the mail sink, then the four services as separate processes, waits until each
one is ready, prints where everything is, and streams the services' logs, each line prefixed
by its service. Ctrl-C (or SIGTERM, or closing the terminal) stops everything it started.

Ports, all on 127.0.0.1 (environment variables override them)::

    portal-gateway  PORT                8000      mail sink web  MAILSINK_HTTP_PORT  8025
    subscriptions   SUBSCRIPTIONS_PORT  8101      mail sink SMTP MAILSINK_SMTP_PORT  1025
    invoicing       INVOICING_PORT      8102      Kafka (Tansu)  KAFKA_PORT          9092*
    notifications   NOTIFICATIONS_PORT  8103
                                        * or a free port when 9092 is taken

``DATABASE_URL`` and ``KAFKA_BOOTSTRAP_SERVERS`` point it at servers you run yourself. Without
``DATABASE_URL`` the services use a ``billing_dev`` database, recreated at every start so that
it matches the broker (Tansu keeps its data in memory only); ``--keep-data`` keeps it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import secrets
import signal
import socket
import sys
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import uvloop

from devstack.kafka import KafkaHandle, ensure_topics, resolve_kafka
from devstack.mailsink import MailSink
from devstack.network import free_port
from devstack.postgres import PostgresHandle, create_database, drop_database, resolve_postgres

HOST = "127.0.0.1"
READY_MARKER = "billing-dev is ready"
DEV_DATABASE = "billing_dev"
DEFAULT_KAFKA_PORT = 9092
READY_TIMEOUT = 120.0
# Above the services' own bound (SHUTDOWN_TIMEOUT 20s plus their 5s hard-stop margin).
STOP_TIMEOUT = 30.0
LAST_LINES = 30

T = TypeVar("T")


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    port_variable: str
    default_port: int
    color: str


SERVICES = (
    ServiceSpec("subscriptions", "subscriptions", "SUBSCRIPTIONS_PORT", 8101, "35"),
    ServiceSpec("invoicing", "invoicing", "INVOICING_PORT", 8102, "33"),
    ServiceSpec("notifications", "notifications", "NOTIFICATIONS_PORT", 8103, "34"),
    ServiceSpec("portal-gateway", "portal_gateway", "PORT", 8000, "32"),
)

# Variables a developer may have exported for one service; passed to all four they would
# make them share a schema or a name.
# ADMIN_TOKEN is the gateway's alone: the other services never see the operator token.
_PER_SERVICE_VARIABLES = ("DB_SCHEMA", "SERVICE_NAME", "HOST", "PUBLIC_BASE_URL", "ADMIN_TOKEN")


class LaunchError(Exception):
    """Something the developer must fix; the message says what."""


@dataclass(frozen=True)
class DevEnvironment:
    """Where everything runs; what the after-ready hook gets."""

    database_url: str
    database_source: str
    kafka_bootstrap_servers: str
    kafka_source: str
    mailsink_url: str
    smtp: str
    gateway_url: str
    services: dict[str, str]
    workdir: Path
    admin_token: str = field(default="", repr=False)


async def after_ready(env: DevEnvironment) -> list[str]:
    """Called once every service is ready, before the summary is printed.

    The place to seed demo data (a demo merchant, plans, customers, subscriptions) through
    the gateway at ``env.gateway_url``; the lines returned (portal links, the demo API key)
    are printed under the summary. Raising stops everything with the error shown.
    """
    # Demo data: billing_tools.demo (skipped with BILLING_DEV_DEMO=0).
    from billing_tools.demo import launcher_lines

    return await launcher_lines(env)


def operator_token(devstack_dir: Path) -> str:
    """ADMIN_TOKEN if set; else a fresh random one, written where ``billingctl`` and the demo
    seeding look (``.devstack/admin-token``, readable by this user only)."""
    token = os.environ.get("ADMIN_TOKEN", "").strip()
    if token:
        return token
    token = secrets.token_urlsafe(32)
    path = devstack_dir / "admin-token"
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(token + "\n")
    return token


# -- output -----------------------------------------------------------------------------


class Output:
    """All printing goes through here, from the event loop thread, so lines never mix."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.color = stream.isatty() and not os.environ.get("NO_COLOR")
        self.width = max(len(s.name) for s in SERVICES)

    def paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def say(self, text: str) -> None:
        self.line(f"{self.paint('billing-dev'.ljust(self.width), '1')} │ {text}")

    def error(self, text: str) -> None:
        self.say(self.paint(text, "1;31"))

    def service_line(self, spec: ServiceSpec, text: str) -> None:
        self.line(f"{self.paint(spec.name.ljust(self.width), spec.color)} │ {text}")


# -- service processes ------------------------------------------------------------------

# Resolved in the launcher, so that the forked child only makes a call (no dlopen/dlsym
# between fork and exec, where another thread's lock could be held).
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # If the launcher is killed outright (SIGKILL, OOM killer), the kernel sends its
    # children SIGTERM, so no service outlives it. Linux only; Ctrl-C works everywhere.
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class ServiceProcess:
    spec: ServiceSpec
    port: int
    process: asyncio.subprocess.Process
    last_lines: deque[str] = field(default_factory=lambda: deque(maxlen=LAST_LINES))
    pump: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def signal_group(self, sig: signal.Signals) -> None:
        # Each service leads its own process group: signal the group so that nothing it
        # spawned survives it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def tail(self) -> str:
        return "\n".join(f"    {line}" for line in self.last_lines) or "    (no output)"

    async def drain(self) -> None:
        """Let the log pump read what the process wrote before it exited."""
        if self.pump is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.pump), timeout=2)


async def _pump_output(service: ServiceProcess, out: Output) -> None:
    stream = service.process.stdout
    assert stream is not None
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # a line longer than the buffer: take what is there
            raw = await stream.read(64 * 1024)
        if not raw:
            return
        text = raw.decode("utf-8", "replace").rstrip("\n")
        service.last_lines.append(text)
        out.service_line(service.spec, text)


async def start_service(
    spec: ServiceSpec, port: int, env: dict[str, str], out: Output
) -> ServiceProcess:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        spec.module,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        # Own process group: the terminal's Ctrl-C reaches only the launcher, which then
        # stops the services in order instead of all at once.
        start_new_session=True,
        preexec_fn=_die_with_parent,
        limit=1024 * 1024,
    )
    service = ServiceProcess(spec, port, process)
    service.pump = asyncio.create_task(_pump_output(service, out), name=f"logs:{spec.name}")
    out.say(f"started {spec.name} (pid {process.pid}) on {service.url}")
    return service


async def wait_until_ready(services: list[ServiceProcess], out: Output, timeout: float) -> None:
    """Poll every /readyz until it answers 200; fail fast when a service exits."""
    pending = {s.spec.name: s for s in services}
    last_answer: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    next_progress = time.monotonic() + 10
    async with httpx.AsyncClient(timeout=2.0) as http:
        while pending:
            for name, service in list(pending.items()):
                if not service.running:
                    await service.drain()
                    raise LaunchError(
                        f"{name} {describe_exit(service.process.returncode)} before it was "
                        f"ready. Its last lines:\n{service.tail()}"
                    )
                try:
                    answer = await http.get(f"{service.url}/readyz")
                except httpx.HTTPError as exc:
                    last_answer[name] = f"no answer ({type(exc).__name__})"
                    continue
                if answer.status_code == 200:
                    out.say(f"{name} is ready")
                    del pending[name]
                else:
                    last_answer[name] = f"{answer.status_code} {answer.text[:300]}"
            if not pending:
                return
            now = time.monotonic()
            if now > deadline:
                details = "\n".join(
                    f"{name}: /readyz said {last_answer.get(name, 'nothing')}; "
                    f"its last lines:\n{service.tail()}"
                    for name, service in pending.items()
                )
                raise LaunchError(
                    f"not ready after {timeout:.0f}s: {', '.join(pending)}\n{details}"
                )
            if now > next_progress:
                out.say(f"still waiting for {', '.join(pending)}")
                next_progress = now + 10
            await asyncio.sleep(0.25)


# -- configuration ----------------------------------------------------------------------


def repo_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "uv.lock").exists() and (parent / "services").is_dir():
            return parent
    return Path.cwd()


def port_from_env(variable: str, default: int) -> int:
    raw = os.environ.get(variable)
    if raw is None or raw == "":
        return default
    try:
        port = int(raw)
    except ValueError:
        raise LaunchError(f"{variable}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise LaunchError(f"{variable}={port} is not between 1 and 65535")
    return port


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class Ports:
    services: dict[str, int]
    smtp: int
    mail_web: int
    kafka: int

    @classmethod
    def from_env(cls) -> Ports:
        """Read the ports, and fail now, with the variable to change, if one is taken."""
        wanted = [(s.name, s.port_variable, s.default_port) for s in SERVICES] + [
            ("mail sink SMTP", "MAILSINK_SMTP_PORT", 1025),
            ("mail sink web", "MAILSINK_HTTP_PORT", 8025),
        ]
        chosen: dict[str, int] = {}
        owner: dict[int, str] = {}
        for what, variable, default in wanted:
            port = port_from_env(variable, default)
            if port in owner:
                raise LaunchError(f"{what} and {owner[port]} both want port {port}")
            if not port_is_free(port):
                raise LaunchError(
                    f"port {port} for {what} is in use (another `make dev`?): stop what "
                    f"uses it, or set {variable} to a free port"
                )
            owner[port] = what
            chosen[what] = port
        kafka = port_from_env("KAFKA_PORT", DEFAULT_KAFKA_PORT)
        if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and (
            kafka in owner or not port_is_free(kafka)
        ):
            # Nothing but tools pointed at the broker cares about its port: take a free one.
            kafka = free_port()
        return cls(
            services={s.name: chosen[s.name] for s in SERVICES},
            smtp=chosen["mail sink SMTP"],
            mail_web=chosen["mail sink web"],
            kafka=kafka,
        )


def service_env(
    spec: ServiceSpec, port: int, env: DevEnvironment, ports: Ports, console: bool
) -> dict[str, str]:
    child = {k: v for k, v in os.environ.items() if k not in _PER_SERVICE_VARIABLES}
    child.update(
        DATABASE_URL=env.database_url,
        KAFKA_BOOTSTRAP_SERVERS=env.kafka_bootstrap_servers,
        PORT=str(port),
        HOST=HOST,
        ENV="dev",
        PYTHONUNBUFFERED="1",
        # The launcher's stdout decides: a terminal gets readable lines, a pipe gets JSON.
        LOG_FORMAT="console" if console else "json",
    )
    if console:
        child["FORCE_COLOR"] = "1"
    if spec.name == "notifications":
        child.update(SMTP_HOST=HOST, SMTP_PORT=str(ports.smtp))
    if spec.name == "portal-gateway":
        child["PUBLIC_BASE_URL"] = os.environ.get("PUBLIC_BASE_URL") or env.gateway_url
        child["ADMIN_TOKEN"] = env.admin_token
    return child


def summary(env: DevEnvironment, out: Output, extra: list[str]) -> None:
    rows = [
        ("Portal gateway", env.gateway_url),
        (
            "Mail sink",
            f"{env.mailsink_url}/   JSON: {env.mailsink_url}/messages.json   SMTP: {env.smtp}",
        ),
        ("Kafka broker", f"{env.kafka_bootstrap_servers}   ({env.kafka_source})"),
        ("PostgreSQL", f"{redact(env.database_url)}   ({env.database_source})"),
        ("Health", ""),
        *((f"  {name}", f"{url}/healthz   {url}/readyz") for name, url in env.services.items()),
    ]
    width = max(len(label) for label, _ in rows) + 3
    out.line()
    out.say(out.paint("The billing system is running:", "1"))
    for label, value in rows:
        out.say(f"  {label.ljust(width)}{value}".rstrip())
    for line in extra:
        out.say(line)
    out.line()


# -- the launcher -----------------------------------------------------------------------


async def finish_then(work: Awaitable[T], undo: Callable[[T], Awaitable[None]]) -> T:
    """Await ``work``; if we are cancelled meanwhile, let it finish, undo it, re-raise.

    Starting a broker or a database cannot be interrupted half-way; without this, Ctrl-C
    during the start would leave the process being started behind.
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await undo(await task)
        raise


async def _all(tasks: list[asyncio.Task[int]]) -> None:
    await asyncio.gather(*tasks)


async def _in_thread(fn: Callable[[], None]) -> None:
    await asyncio.to_thread(fn)


class Launcher:
    def __init__(self, out: Output, *, keep_data: bool, ready_timeout: float) -> None:
        self.out = out
        self.keep_data = keep_data
        self.ready_timeout = ready_timeout
        self.services: list[ServiceProcess] = []
        self._stop = asyncio.Event()
        self._hurry = asyncio.Event()
        self._ready = False
        self._main: asyncio.Task[Any] | None = None

    async def run(self) -> int:
        """Start everything, wait for a signal or a death, stop everything; exit status."""
        self._main = asyncio.current_task()
        loop = asyncio.get_running_loop()
        handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        for sig in handled:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            async with AsyncExitStack() as stack:
                try:
                    env = await self._bring_up(stack)
                    extra = await after_ready(env)
                except LaunchError as exc:
                    self.out.error(str(exc))
                    return 1
                except Exception as exc:  # a bug or an unexpected answer: show all of it
                    self.out.error(f"cannot start: {type(exc).__name__}: {exc}")
                    self.out.line(traceback.format_exc().rstrip())
                    return 1
                except asyncio.CancelledError:
                    if not self._stop.is_set():
                        raise
                    # Our own signal handler interrupted the start: clean up normally.
                    if self._main is not None:
                        self._main.uncancel()
                    return 0
                summary(env, self.out, extra)
                self._ready = True
                self.out.say(self.out.paint(f"{READY_MARKER}. Press Ctrl-C to stop.", "1;32"))
                return await self._watch()
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
            self.out.say("stopped")

    def _on_signal(self, sig: int) -> None:
        if self._stop.is_set():
            self.out.say("signal received again: killing what is left")
            self._hurry.set()
            return
        self._stop.set()
        self.out.say(f"{signal.Signals(sig).name} received: stopping everything")
        if not self._ready and self._main is not None:
            self._main.cancel()  # interrupt the start; the exit stack undoes what was done

    async def _bring_up(self, stack: AsyncExitStack) -> DevEnvironment:
        out = self.out
        ports = Ports.from_env()
        workdir = repo_root() / ".devstack" / "dev"
        workdir.mkdir(parents=True, exist_ok=True)

        out.say("PostgreSQL…")
        pg: PostgresHandle = await finish_then(
            resolve_postgres(workdir), lambda h: _in_thread(h.stop)
        )
        stack.push_async_callback(_in_thread, pg.stop)
        database_url = pg.url
        if pg.source != "DATABASE_URL":
            # A private database, fresh each time: the in-memory broker starts empty too.
            if not self.keep_data:
                await drop_database(pg.url, DEV_DATABASE)
            database_url = await create_database(pg.url, DEV_DATABASE)
        out.say(f"PostgreSQL: {redact(database_url)} ({pg.source})")

        out.say("Kafka broker…")
        kafka: KafkaHandle = await finish_then(
            asyncio.to_thread(resolve_kafka, workdir, ports.kafka), lambda h: _in_thread(h.stop)
        )
        stack.push_async_callback(_in_thread, kafka.stop)
        await ensure_topics(kafka.bootstrap_servers)
        out.say(f"Kafka: {kafka.bootstrap_servers} ({kafka.source}), topics created")

        sink = MailSink(HOST, ports.smtp, ports.mail_web)
        try:
            await sink.start()
        except OSError as exc:
            raise LaunchError(f"the mail sink cannot start: {exc}") from exc
        stack.push_async_callback(sink.stop)
        out.say(f"mail sink: {sink.url}/ (SMTP {HOST}:{ports.smtp})")

        env = DevEnvironment(
            database_url=database_url,
            database_source=pg.source,
            kafka_bootstrap_servers=kafka.bootstrap_servers,
            kafka_source=kafka.source,
            mailsink_url=sink.url,
            smtp=f"{HOST}:{ports.smtp}",
            gateway_url=f"http://{HOST}:{ports.services['portal-gateway']}",
            services={s.name: f"http://{HOST}:{ports.services[s.name]}" for s in SERVICES},
            workdir=workdir,
            admin_token=operator_token(workdir.parent),
        )
        stack.push_async_callback(self._stop_services)
        console = out.stream.isatty()
        for spec in SERVICES:
            port = ports.services[spec.name]
            child_env = service_env(spec, port, env, ports, console)
            self.services.append(await start_service(spec, port, child_env, out))
        await wait_until_ready(self.services, out, self.ready_timeout)
        return env

    async def _watch(self) -> int:
        """Wait for Ctrl-C/SIGTERM (status 0) or for a service to die (status 1)."""
        exits = {asyncio.create_task(s.process.wait()): s for s in self.services}
        stop = asyncio.create_task(self._stop.wait())
        try:
            done, _ = await asyncio.wait([stop, *exits], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in [stop, *exits]:
                task.cancel()
        if stop in done:
            return 0
        for task in done:
            service = exits[task]
            await service.drain()
            self.out.error(
                f"{service.spec.name} {describe_exit(service.process.returncode)}; "
                f"stopping everything. Its last lines:\n{service.tail()}"
            )
        return 1

    async def _stop_services(self) -> None:
        """SIGTERM every service, wait (bounded), SIGKILL what is left."""
        running = [s for s in self.services if s.running]
        if running:
            self.out.say("stopping " + ", ".join(s.spec.name for s in running))
        for service in running:
            service.signal_group(signal.SIGTERM)
        exits = [asyncio.create_task(s.process.wait()) for s in running]
        if exits:
            hurry = asyncio.create_task(self._hurry.wait())
            everyone = asyncio.create_task(_all(exits))
            await asyncio.wait(
                [everyone, hurry], timeout=STOP_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
            hurry.cancel()
            everyone.cancel()
        for service in running:
            if service.running:
                self.out.error(f"{service.spec.name} did not stop in time; killing it")
        for service in self.services:
            # Also whatever is left in a group whose leader has exited.
            service.signal_group(signal.SIGKILL)
        for service in self.services:
            await service.process.wait()
            await service.drain()
            code = service.process.returncode
            if service in running and code != 0:
                self.out.say(f"{service.spec.name} {describe_exit(code)}")


def describe_exit(code: int | None) -> str:
    if code is None:
        return "is still running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with status {code}"


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="billing-dev",
        description="Run the whole billing system locally: PostgreSQL, a Kafka-protocol "
        "broker, a mail sink and the four services.",
        epilog="Ports and servers come from environment variables: see README.md.",
    )
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help=f"keep the {DEV_DATABASE} database of the previous run instead of recreating it",
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=float(os.environ.get("READY_TIMEOUT", READY_TIMEOUT)),
        help="seconds to wait for the services to become ready (default %(default)s)",
    )
    args = parser.parse_args(argv)
    out = Output(sys.stdout)

    async def run() -> int:
        return await Launcher(out, keep_data=args.keep_data, ready_timeout=args.ready_timeout).run()

    try:
        # uvloop, as the services run: the mail sink and the log pumps share this loop, and
        # with the standard loop the launcher took 15% more CPU per mail under load.
        status = uvloop.run(run())
    except LaunchError as exc:  # raised before anything was started (bad ports...)
        out.error(str(exc))
        status = 1
    raise SystemExit(status)


if __name__ == "__main__":
    main()
