"""Unit tests of billingctl: argument handling, token discovery, output and exit statuses.

The gateway is an ``httpx.MockTransport`` here; tests/integration runs against a real one.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from billing_tools.billingctl import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_months, run

TOKEN = "operator-token"
CREATED = {
    "id": "mer_1",
    "object": "merchant",
    "slug": "acme",
    "name": "Acme",
    "api_key": "sk_test_" + "k" * 43,
}
EVENTS = {
    "object": "list",
    "stream_id": "subscription-sub_1",
    "data": [
        {
            "id": "e1",
            "type": "SubscriptionCreated",
            "version": 1,
            "occurred_at": "2025-01-01T00:00:00Z",
            "data": {"subscription_id": "sub_1"},
        },
        {
            "id": "e2",
            "type": "SubscriptionCanceled",
            "version": 2,
            "occurred_at": "2025-01-02T00:00:00Z",
            "data": {"reason": "unused"},
        },
    ],
}


class Gateway:
    """Records requests and answers like the admin API."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer or self.default

    def default(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(
                401, json={"error": {"code": "invalid_admin_token", "message": "no"}}
            )
        if request.url.path == "/admin/merchants":
            return httpx.Response(201, json=CREATED)
        if request.url.path == "/admin/streams/subscription-sub_1/events":
            return httpx.Response(200, json=EVENTS)
        if request.url.path.startswith("/admin/streams/"):
            return httpx.Response(200, json={"object": "list", "data": []})
        if request.url.path == "/admin/projections/rebuild":
            return httpx.Response(
                202, json={"generation": 2, "consumer_group": "gateway.projections.r2"}
            )
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "?"}})

    def factory(self, base_url: str) -> httpx.Client:
        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return self.answer(request)

        return httpx.Client(base_url=base_url, transport=httpx.MockTransport(handle))


WALL_CLOCK = datetime(2025, 1, 31, 12, tzinfo=UTC)


def invoke(
    argv: list[str],
    gateway: Gateway | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(
        argv,
        env={"ADMIN_TOKEN": TOKEN} if env is None else env,
        cwd=cwd or Path("/nonexistent"),
        checkout=Path("/nonexistent"),
        out=out,
        err=err,
        client_factory=(gateway or Gateway()).factory,
        now=lambda: WALL_CLOCK,
    )
    return code, out.getvalue(), err.getvalue()


def test_merchants_create_prints_the_id_slug_name_and_key_as_json() -> None:
    gateway = Gateway()
    code, out, err = invoke(["merchants", "create", "--name", "Acme", "--slug", "acme"], gateway)
    assert (code, err) == (EXIT_OK, "")
    assert json.loads(out) == {k: CREATED[k] for k in ("id", "slug", "name", "api_key")}
    (request,) = gateway.requests
    assert request.method == "POST"
    assert str(request.url) == "http://127.0.0.1:8000/admin/merchants"
    assert json.loads(request.content) == {"name": "Acme", "slug": "acme"}


def test_the_gateway_url_comes_from_the_flag_or_the_environment() -> None:
    gateway = Gateway()
    invoke(["--gateway", "http://gw.example:9000/", "merchants", "create", "--name", "A"], gateway)
    invoke(
        ["merchants", "create", "--name", "A"],
        gateway,
        env={"ADMIN_TOKEN": TOKEN, "GATEWAY_URL": "https://billing.example"},
    )
    assert [str(r.url) for r in gateway.requests] == [
        "http://gw.example:9000/admin/merchants",
        "https://billing.example/admin/merchants",
    ]


def test_the_token_is_read_from_the_launchers_file(tmp_path: Path) -> None:
    (tmp_path / ".devstack").mkdir()
    (tmp_path / ".devstack" / "admin-token").write_text(TOKEN + "\n")
    nested = tmp_path / "services" / "x"
    nested.mkdir(parents=True)
    code, out, _ = invoke(["merchants", "create", "--name", "A"], env={}, cwd=nested)
    assert code == EXIT_OK
    assert json.loads(out)["id"] == "mer_1"


def test_without_a_token_the_operator_is_told_where_to_get_one(tmp_path: Path) -> None:
    code, out, err = invoke(["merchants", "create", "--name", "A"], env={}, cwd=tmp_path)
    assert code == EXIT_USAGE
    assert "ADMIN_TOKEN" in err
    assert out == ""


def test_stream_show_prints_the_events_in_order() -> None:
    code, out, _ = invoke(["stream", "show", "subscription-sub_1"])
    assert code == EXIT_OK
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:3] == ["1", "2025-01-01T00:00:00Z", "SubscriptionCreated"]
    assert lines[1].split()[:3] == ["2", "2025-01-02T00:00:00Z", "SubscriptionCanceled"]
    assert '{"reason":"unused"}' in lines[1]


def test_stream_show_json() -> None:
    code, out, _ = invoke(["stream", "show", "subscription-sub_1", "--json"])
    assert code == EXIT_OK
    assert json.loads(out) == EVENTS["data"]


def test_an_empty_stream_says_so() -> None:
    code, _out, err = invoke(["stream", "show", "subscription-sub_none"])
    assert code == EXIT_FAILED
    assert "no events" in err


def test_projections_rebuild() -> None:
    code, out, _ = invoke(["projections", "rebuild"])
    assert code == EXIT_OK
    assert "gateway.projections.r2" in out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["merchants"],
        ["merchants", "create"],
        ["merchants", "create", "--name", "  "],
        ["merchants", "create", "--name", "A", "--slug", "Not A Slug"],
        ["merchants", "create", "--name", "A", "--cancel-mode", "never"],
        ["stream", "show"],
        ["stream", "show", "not a stream"],
        ["stream", "show", "nodash"],
        ["--gateway", "ftp://x", "stream", "show", "plan-p"],
        ["frobnicate"],
        ["clock", "show"],
        ["clock", "advance", "--merchant", "mer_1"],
        ["clock", "advance", "--merchant", "mer_1", "--to", "2030-01-01T00:00:00"],
        ["clock", "advance", "--merchant", "mer_1", "--to", "soon"],
        ["clock", "advance", "--merchant", "mer_1", "--to", "2030-01-01Z", "--months", "1"],
        ["clock", "advance", "--merchant", "mer_1", "--months", "0"],
        ["clock", "advance", "--merchant", "mer_1", "--months", "61"],
        ["clock", "advance", "--merchant", "mer_1", "--months", "two"],
        ["clock", "advance", "--merchant", "mer_1", "--days", "-1"],
        ["clock", "advance", "--merchant", "mer/../x", "--months", "1"],
    ],
)
def test_bad_input_exits_2_with_a_message_and_sends_nothing(argv: list[str]) -> None:
    gateway = Gateway()
    code, out, err = invoke(argv, gateway)
    assert code == EXIT_USAGE
    assert err.strip()
    assert out == ""
    assert gateway.requests == []


def test_an_unreachable_gateway_exits_2_with_a_message() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    code, out, err = invoke(["stream", "show", "plan-p"], Gateway(refuse))
    assert code == EXIT_USAGE
    assert "cannot reach the gateway" in err
    assert out == ""


@pytest.mark.parametrize(
    ("status", "body", "code", "needle"),
    [
        (
            401,
            {"error": {"code": "invalid_admin_token", "message": "no"}},
            EXIT_USAGE,
            "operator token",
        ),
        (409, {"error": {"code": "slug_taken", "message": "taken"}}, EXIT_USAGE, "slug_taken"),
        (500, {"error": {"code": "internal_error", "message": "boom"}}, EXIT_FAILED, "failed"),
        (502, "<html>bad gateway</html>", EXIT_FAILED, "failed"),
    ],
)
def test_refusals_are_reported(status: int, body: Any, code: int, needle: str) -> None:
    def answer(_: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    result, out, err = invoke(["merchants", "create", "--name", "A"], Gateway(answer))
    assert result == code
    assert needle in err
    assert out == ""


# --- test clocks --------------------------------------------------------------------------


class ClockGateway(Gateway):
    """The admin API's test clock of merchant mer_1, which starts unset (wall-clock time)."""

    def __init__(self, frozen_time: str | None = None) -> None:
        super().__init__(self.clock)
        self.frozen_time = frozen_time

    def clock(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/admin/merchants/mer_1/test_clock":
            return httpx.Response(404, json={"error": {"code": "resource_missing", "message": "?"}})
        if request.method == "POST":
            self.frozen_time = json.loads(request.content)["advance_to"]
        body = {"object": "test_clock", "merchant_id": "mer_1", "frozen_time": self.frozen_time}
        return httpx.Response(200, json=body)


def test_clock_advance_to_an_instant() -> None:
    gateway = ClockGateway()
    code, out, err = invoke(
        ["clock", "advance", "--merchant", "mer_1", "--to", "2030-03-01T09:00:00+02:00"], gateway
    )
    assert (code, err) == (EXIT_OK, "")
    assert json.loads(out) == {"merchant_id": "mer_1", "frozen_time": "2030-03-01T07:00:00Z"}
    (request,) = gateway.requests
    assert (request.method, request.url.path) == ("POST", "/admin/merchants/mer_1/test_clock")
    assert json.loads(request.content) == {"advance_to": "2030-03-01T07:00:00Z"}


def test_clock_advance_by_months_counts_from_the_clock_or_the_wall_clock() -> None:
    unset = ClockGateway()
    code, out, _ = invoke(["clock", "advance", "--merchant", "mer_1", "--months", "1"], unset)
    assert code == EXIT_OK
    # Jan 31 + 1 month is the last day of February, as a billing period is.
    assert json.loads(out)["frozen_time"] == "2025-02-28T12:00:00Z"
    set_clock = ClockGateway("2024-01-15T00:00:00Z")
    invoke(["clock", "advance", "--merchant", "mer_1", "--months", "6"], set_clock)
    assert set_clock.frozen_time == "2024-07-15T00:00:00Z"
    invoke(["clock", "advance", "--merchant", "mer_1", "--days", "10"], set_clock)
    assert set_clock.frozen_time == "2024-07-25T00:00:00Z"
    assert [r.method for r in set_clock.requests] == ["GET", "POST", "GET", "POST"]


def test_clock_show() -> None:
    code, out, _ = invoke(["clock", "show", "--merchant", "mer_1"], ClockGateway())
    assert code == EXIT_OK
    assert json.loads(out) == {"merchant_id": "mer_1", "frozen_time": None}


def test_a_refused_advance_reports_the_rejection_code() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        error = {"code": "clock_backwards", "message": "the test clock reads 2030"}
        return httpx.Response(409, json={"error": error})

    code, out, err = invoke(
        ["clock", "advance", "--merchant", "mer_1", "--to", "2020-01-01T00:00:00Z"],
        Gateway(refuse),
    )
    assert code == EXIT_USAGE
    assert "clock_backwards" in err
    assert out == ""


def test_an_advance_not_confirmed_in_time_says_so() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        body = {"id": "mer_1", "object": "test_clock", "code": "timeout", "message": "queued"}
        return httpx.Response(202, json=body)

    code, out, err = invoke(
        ["clock", "advance", "--merchant", "mer_1", "--to", "2030-01-01T00:00:00Z"], Gateway(slow)
    )
    assert code == EXIT_FAILED
    assert "queued" in err
    assert out == ""


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (datetime(2024, 1, 31, tzinfo=UTC), 1, datetime(2024, 2, 29, tzinfo=UTC)),
        (datetime(2024, 11, 30, tzinfo=UTC), 3, datetime(2025, 2, 28, tzinfo=UTC)),
        (datetime(2024, 12, 15, 8, tzinfo=UTC), 12, datetime(2025, 12, 15, 8, tzinfo=UTC)),
        (datetime(2024, 3, 31, tzinfo=UTC), 60, datetime(2029, 3, 31, tzinfo=UTC)),
    ],
)
def test_add_months_clamps_to_the_end_of_the_month(
    start: datetime, months: int, expected: datetime
) -> None:
    assert add_months(start, months) == expected
