"""``billingctl``: the operator's command line, talking to the gateway's admin API.

    uv run billingctl merchants create --name "Acme" [--slug acme]
    uv run billingctl stream show subscription-sub_123
    uv run billingctl projections rebuild

The gateway is ``GATEWAY_URL`` (default http://127.0.0.1:8000, or ``--gateway``). The operator
token is ``ADMIN_TOKEN`` from the environment, else the file ``.devstack/admin-token`` that the
development launcher writes. Exit status: 0 done, 1 nothing found or the gateway failed,
2 bad input, an unreachable gateway, or a request the gateway refused.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
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


def run(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    checkout: Path | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    client_factory: ClientFactory = default_client,
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
