"""``billingctl``: the operator's command line, talking to the gateway's admin API.

    uv run billingctl merchants create --name "Acme" [--slug acme]
    uv run billingctl stream show subscription-sub_123
    uv run billingctl projections rebuild
    uv run billingctl clock show --merchant mer_123
    uv run billingctl clock advance --merchant mer_123 --to 2030-01-31T00:00:00Z
    uv run billingctl clock advance --merchant mer_123 --months 3

The gateway is ``GATEWAY_URL`` (default http://127.0.0.1:8000, or ``--gateway``). The operator
token is ``ADMIN_TOKEN`` from the environment, else the file ``.devstack/admin-token`` that the
development launcher writes. Exit status: 0 done, 1 nothing found or the gateway failed,
2 bad input, an unreachable gateway, or a request the gateway refused.
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, TextIO

import httpx

DEFAULT_GATEWAY = "http://127.0.0.1:8000"
TOKEN_FILE = Path(".devstack") / "admin-token"
TIMEOUT_SECONDS = 30.0

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

_STREAM_ID = re.compile(r"^[a-z]+-[A-Za-z0-9_.:-]{1,190}$")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_MERCHANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
# The subscriptions service refuses more than 5 years per advance; refuse a typo here first.
MAX_MONTHS = 60
MAX_DAYS = 5 * 366

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


ClientFactory = Callable[[str], httpx.Client]


class CommandError(Exception):
    """A failure to report to the operator: ``message`` on stderr, ``code`` as exit status."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise CommandError(f"{self.prog}: {message}", EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="billingctl",
        description="Operate the billing system through the gateway's admin API.",
        epilog="The operator token comes from ADMIN_TOKEN or .devstack/admin-token.",
    )
    parser.add_argument(
        "--gateway",
        help=f"gateway base URL (default: GATEWAY_URL or {DEFAULT_GATEWAY})",
    )
    commands = parser.add_subparsers(dest="area", required=True, parser_class=_Parser)

    merchants = commands.add_parser("merchants", help="merchants and their API keys")
    merchant_commands = merchants.add_subparsers(dest="action", required=True)
    create = merchant_commands.add_parser(
        "create", help="register a merchant; prints its id, slug, name and secret API key"
    )
    create.add_argument("--name", required=True, help="display name")
    create.add_argument("--slug", help="URL name: lower-case letters, digits and hyphens")
    create.add_argument("--support-email", help="shown to customers in the portal")
    create.add_argument("--logo-url", help="https URL of the logo shown in the portal")
    create.add_argument("--brand-color", help="portal accent colour, #rrggbb")
    create.add_argument(
        "--cancel-mode",
        choices=("at_period_end", "immediately"),
        help="when a cancellation from the portal takes effect",
    )

    stream = commands.add_parser("stream", help="event streams")
    stream_commands = stream.add_subparsers(dest="action", required=True)
    show = stream_commands.add_parser("show", help="print a stream's events in order")
    show.add_argument("stream_id", help="e.g. subscription-sub_123, customer-cus_123")
    show.add_argument("--json", action="store_true", help="print the events as JSON")

    projections = commands.add_parser("projections", help="the gateway's read model")
    projection_commands = projections.add_subparsers(dest="action", required=True)
    projection_commands.add_parser(
        "rebuild", help="empty the projections and replay every event topic from the start"
    )

    clock = commands.add_parser(
        "clock", help="a merchant's test clock (development): move its time to run renewals"
    )
    clock_commands = clock.add_subparsers(dest="action", required=True)
    clock_show = clock_commands.add_parser("show", help="print the merchant's test clock")
    clock_show.add_argument("--merchant", required=True, help="merchant id, mer_...")
    advance = clock_commands.add_parser(
        "advance",
        help="set the merchant's time; renewals that fall due are billed right after",
        description=(
            "Set a merchant's test clock. The first setting may lie in the past; after that "
            "the clock only moves forward, at most 5 years at a time. --months and --days "
            "count from the clock's current time (the wall clock if it was never set)."
        ),
    )
    advance.add_argument("--merchant", required=True, help="merchant id, mer_...")
    target = advance.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--to", dest="to", help="ISO-8601 time with a timezone, e.g. 2030-01-31T00:00:00Z"
    )
    target.add_argument("--months", type=int, help="move forward this many calendar months")
    target.add_argument("--days", type=int, help="move forward this many days")
    return parser


# --- configuration ------------------------------------------------------------------------


def gateway_url(explicit: str | None, env: Mapping[str, str]) -> str:
    url = (explicit or env.get("GATEWAY_URL") or DEFAULT_GATEWAY).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise CommandError(f"gateway URL {url!r} must start with http:// or https://")
    return url


def this_checkout() -> Path | None:
    """The workspace this billingctl runs from (where the launcher writes its token)."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "uv.lock").exists() and (parent / "services").is_dir():
            return parent
    return None


def token_file_candidates(start: Path, checkout: Path | None) -> list[Path]:
    """``.devstack/admin-token`` in the current directory or any parent, then in the
    checkout."""
    candidates = [directory / TOKEN_FILE for directory in (start, *start.parents)]
    if checkout is not None:
        candidates.append(checkout / TOKEN_FILE)
    return candidates


def admin_token(env: Mapping[str, str], cwd: Path, checkout: Path | None) -> str:
    token = env.get("ADMIN_TOKEN", "").strip()
    if token:
        return token
    for candidate in token_file_candidates(cwd, checkout):
        if candidate.is_file():
            token = candidate.read_text(encoding="utf-8").strip()
            if token:
                return token
    raise CommandError(
        "no operator token: set ADMIN_TOKEN, or start the system with `make dev` "
        "(it writes .devstack/admin-token)"
    )


# --- talking to the gateway ---------------------------------------------------------------


def default_client(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=TIMEOUT_SECONDS)


def call(
    client: httpx.Client, method: str, path: str, token: str, body: dict[str, Any] | None = None
) -> Any:
    try:
        response = client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {token}"}
        )
    except httpx.TransportError as exc:
        raise CommandError(
            f"cannot reach the gateway at {client.base_url} ({type(exc).__name__}); "
            "is it running? (make dev, or set GATEWAY_URL)"
        ) from None
    if response.is_success:
        try:
            return response.json()
        except ValueError:
            raise CommandError(
                "the gateway answered with something that is not JSON", EXIT_FAILED
            ) from None
    raise _refusal(response)


def _refusal(response: httpx.Response) -> CommandError:
    try:
        error = response.json().get("error", {})
        code, message = error.get("code", ""), error.get("message", "")
    except (ValueError, AttributeError):
        code, message = "", response.text[:200]
    detail = f"{code}: {message}" if code else message or response.reason_phrase
    if response.status_code == 401:
        return CommandError(f"the gateway refused the operator token ({detail})")
    if response.status_code >= 500:
        return CommandError(f"the gateway failed ({response.status_code}): {detail}", EXIT_FAILED)
    return CommandError(f"refused ({response.status_code}) {detail}")


# --- commands -------------------------------------------------------------------------------


def create_merchant(client: httpx.Client, token: str, args: argparse.Namespace, out: TextIO) -> int:
    name = args.name.strip()
    if not name:
        raise CommandError("--name must not be empty")
    if args.slug is not None and not _SLUG.match(args.slug):
        raise CommandError(
            f"--slug {args.slug!r} is not valid: lower-case letters, digits and inner hyphens"
        )
    body: dict[str, Any] = {"name": name}
    for option in ("slug", "support_email", "logo_url", "brand_color", "cancel_mode"):
        value = getattr(args, option)
        if value is not None:
            body[option] = value
    created = call(client, "POST", "/admin/merchants", token, body)
    result = {key: created[key] for key in ("id", "slug", "name", "api_key")}
    out.write(json.dumps(result, indent=2) + "\n")
    return EXIT_OK


def show_stream(
    client: httpx.Client, token: str, args: argparse.Namespace, out: TextIO, err: TextIO
) -> int:
    stream_id: str = args.stream_id
    if not _STREAM_ID.match(stream_id):
        raise CommandError(
            f"{stream_id!r} is not a stream id: expected <category>-<id>, e.g. subscription-sub_123"
        )
    listing = call(client, "GET", f"/admin/streams/{stream_id}/events", token)
    events: list[dict[str, Any]] = listing.get("data", [])
    if args.json:
        out.write(json.dumps(events, indent=2) + "\n")
    else:
        for entry in events:
            data = json.dumps(entry.get("data", {}), separators=(",", ":"), sort_keys=True)
            out.write(
                f"{entry['version']:>4}  {entry['occurred_at']}  {entry['type']:<28}  {data}\n"
            )
    if not events:
        err.write(f"no events recorded for stream {stream_id}\n")
        return EXIT_FAILED
    return EXIT_OK


def rebuild_projections(client: httpx.Client, token: str, out: TextIO) -> int:
    started = call(client, "POST", "/admin/projections/rebuild", token)
    out.write(
        f"projections rebuilding: generation {started['generation']}, "
        f"consumer group {started['consumer_group']}\n"
    )
    return EXIT_OK


def parse_instant(text: str) -> datetime:
    """An ISO-8601 time with a timezone ("Z" or an offset), as UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(
            f"--to {text!r} is not an ISO-8601 time, e.g. 2030-01-31T00:00:00Z"
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise CommandError(f"--to {text!r} needs a timezone, e.g. {text.strip()}Z")
    return value.astimezone(UTC)


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` moved by calendar months, the day clamped to the month's length (Jan 31
    + 1 month = Feb 28 or 29), as billing periods are."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _merchant_path(merchant: str) -> str:
    if not _MERCHANT_ID.match(merchant):
        raise CommandError(f"--merchant {merchant!r} is not a merchant id, e.g. mer_123")
    return f"/admin/merchants/{merchant}/test_clock"


def _write_clock(clock: dict[str, Any], out: TextIO) -> None:
    result = {key: clock.get(key) for key in ("merchant_id", "frozen_time")}
    out.write(json.dumps(result, indent=2) + "\n")


def show_clock(client: httpx.Client, token: str, args: argparse.Namespace, out: TextIO) -> int:
    _write_clock(call(client, "GET", _merchant_path(args.merchant), token), out)
    return EXIT_OK


def advance_clock(
    client: httpx.Client,
    token: str,
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    now: Clock,
) -> int:
    path = _merchant_path(args.merchant)
    if args.to is not None:
        target = parse_instant(args.to)
    else:
        months, days = args.months, args.days
        if months is not None and not 1 <= months <= MAX_MONTHS:
            raise CommandError(f"--months must be between 1 and {MAX_MONTHS}")
        if days is not None and not 1 <= days <= MAX_DAYS:
            raise CommandError(f"--days must be between 1 and {MAX_DAYS}")
        current = call(client, "GET", path, token).get("frozen_time")
        base = parse_instant(current) if current else now().astimezone(UTC)
        target = add_months(base, months) if months is not None else base + timedelta(days=days)
    answer = call(client, "POST", path, token, {"advance_to": _iso(target)})
    if answer.get("code") == "timeout":
        err.write(
            f"billingctl: the clock advance is queued but was not confirmed in time; "
            f"check with `billingctl clock show --merchant {args.merchant}`\n"
        )
        return EXIT_FAILED
    _write_clock(answer, out)
    return EXIT_OK


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def run(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    checkout: Path | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    client_factory: ClientFactory = default_client,
    now: Clock = utc_now,
) -> int:
    """Run one command; returns the exit status. Everything the process needs is a parameter."""
    env = os.environ if env is None else env
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
        base_url = gateway_url(args.gateway, env)
        token = admin_token(env, cwd or Path.cwd(), checkout or this_checkout())
        with client_factory(base_url) as client:
            if args.area == "merchants":
                return create_merchant(client, token, args, out)
            if args.area == "stream":
                return show_stream(client, token, args, out, err)
            if args.area == "clock":
                if args.action == "show":
                    return show_clock(client, token, args, out)
                return advance_clock(client, token, args, out, err, now)
            return rebuild_projections(client, token, out)
    except CommandError as exc:
        err.write(f"billingctl: {exc.message}\n")
        return exc.code
    except KeyboardInterrupt:
        err.write("billingctl: interrupted\n")
        return 130


def main() -> None:
    raise SystemExit(run())


if __name__ == "__main__":
    main()
