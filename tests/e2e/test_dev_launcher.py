"""`billing-dev` (what `make dev` runs) starts everything, and SIGTERM stops all of it.

The launcher runs as a subprocess with every port chosen free and its own database, so this
test can run next to a developer's `make dev`. It starts its own broker (Tansu) unless
KAFKA_BOOTSTRAP_SERVERS points at one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import sys
import time
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from billing_tools.dev import READY_MARKER, SERVICES
from devstack.network import free_port
from devstack.postgres import create_database, drop_database

pytestmark = pytest.mark.e2e

LAUNCHER = Path(sys.executable).with_name("billing-dev")
READY_WITHIN = 180.0
STOPPED_WITHIN = 60.0


def _stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of a process, None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may contain spaces: split after it.
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], fields[19]


def descendants(root: int) -> dict[int, str]:
    """Every live process below ``root``, with its start time (to detect pid reuse)."""
    parents: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = _stat(int(entry.name))
            if info is not None:
                parents.setdefault(info[0], []).append(int(entry.name))
                started[int(entry.name)] = info[2]
    found: dict[int, str] = {}
    todo = [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            found[child] = started[child]
            todo.append(child)
    return found


def alive(pid: int, start_time: str) -> bool:
    info = _stat(pid)
    return info is not None and info[2] == start_time and info[1] != "Z"


@pytest_asyncio.fixture
async def database_url(postgres_url: str) -> AsyncIterator[str]:
    name = f"e2e_dev_{uuid.uuid4().hex[:10]}"
    url = await create_database(postgres_url, name)
    yield url
    await drop_database(postgres_url, name)


async def wait_for_marker(log: Path, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if READY_MARKER in log.read_text(errors="replace"):
            return
        if process.returncode is not None:
            pytest.fail(f"billing-dev exited with {process.returncode}:\n{log.read_text()}")
        await asyncio.sleep(0.5)
    pytest.fail(f"billing-dev not ready after {READY_WITHIN:.0f}s:\n{log.read_text()[-5000:]}")


async def test_billing_dev_starts_everything_and_leaves_nothing_behind(
    tmp_path: Path, database_url: str
) -> None:
    assert LAUNCHER.exists(), f"console script missing: {LAUNCHER}"
    ports = {
        "PORT": free_port(),
        "SUBSCRIPTIONS_PORT": free_port(),
        "INVOICING_PORT": free_port(),
        "NOTIFICATIONS_PORT": free_port(),
        "MAILSINK_SMTP_PORT": free_port(),
        "MAILSINK_HTTP_PORT": free_port(),
        "KAFKA_PORT": free_port(),
    }
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "DATABASE_URL": database_url}
    log = tmp_path / "billing-dev.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            str(LAUNCHER), env=env, stdin=asyncio.subprocess.DEVNULL, stdout=sink, stderr=sink
        )
    try:
        await wait_for_marker(log, process)
        children = descendants(process.pid)
        output = log.read_text()

        service_ports = {s.name: ports[s.port_variable] for s in SERVICES}
        async with httpx.AsyncClient(timeout=5) as http:
            for name, port in service_ports.items():
                health = await http.get(f"http://127.0.0.1:{port}/healthz")
                assert health.status_code == 200, (name, health.text)
                ready = await http.get(f"http://127.0.0.1:{port}/readyz")
                assert ready.status_code == 200, (name, ready.text)
                assert ready.json()["status"] == "ready"
                assert f"http://127.0.0.1:{port}/readyz" in output  # printed in the summary
                assert f"\n{name.ljust(14)} │ " in output  # its logs are streamed, prefixed
            assert f"http://127.0.0.1:{ports['PORT']}" in output

            mail_url = f"http://127.0.0.1:{ports['MAILSINK_HTTP_PORT']}"
            await asyncio.to_thread(send_mail, ports["MAILSINK_SMTP_PORT"])
            mails = (await http.get(f"{mail_url}/messages.json")).json()
            assert "launcher test" in [m["subject"] for m in mails]

        # Four services and the broker (unless one was given) run under the launcher.
        commands = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children}
        for spec in SERVICES:
            assert any(f"-m\0{spec.module}".encode() in c for c in commands.values()), spec
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            status = await asyncio.wait_for(process.wait(), STOPPED_WITHIN)
        except TimeoutError:
            process.kill()
            raise

    assert status == 0, log.read_text()[-5000:]
    left = [pid for pid, started in children.items() if alive(pid, started)]
    assert left == [], f"processes left behind: {left}"
    assert "stopped" in log.read_text().splitlines()[-1]


def send_mail(port: int) -> None:
    message = EmailMessage()
    message["From"] = "test@billing.test"
    message["To"] = "someone@example.com"
    message["Subject"] = "launcher test"
    message.set_content("hello")
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        client.send_message(message)
