"""A portal session is one customer's: given another customer's ids, every portal route
answers 403 or 404, changes nothing and shows none of the other customer's data.

The routes are read from the portal's router itself, so a route added later is covered (or
fails here until this test knows what its path parameters are). "Another customer" is tried
twice: a customer of the same merchant, and one of another merchant.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from portal_gateway.portal import PortalSettings, portal_router

pytestmark = pytest.mark.e2e

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
VICTIM_CARD = "5555555555554444"
# Routes with nothing of a customer's in them.
PUBLIC_PARAMS = {"url_token", "file_path"}
# Routes that may exist one day for invoices; they must not serve another customer's either.
INVOICE_PATHS = ("/portal/invoices/{invoice_id}", "/portal/invoices/{invoice_id}/pdf")


@dataclass(frozen=True)
class Victim:
    customer: dict[str, Any]
    plan: dict[str, Any]
    subscription: dict[str, Any]
    payment_method: dict[str, Any]
    invoice: dict[str, Any]

    def value_for(self, param: str) -> str:
        for words, value in (
            (("subscription",), self.subscription["id"]),
            (("invoice",), self.invoice["id"]),
            (("payment_method", "card", "method"), self.payment_method["id"]),
            (("customer",), self.customer["id"]),
        ):
            if any(word in param for word in words):
                return str(value)
        raise AssertionError(
            f"the portal has a route with a path parameter {{{param}}}: teach this test "
            "which of another customer's ids to try there"
        )

    def secrets(self) -> list[str]:
        """What must never appear in a page shown to someone else."""
        return [
            self.customer["email"],
            self.customer["name"],
            self.plan["name"],
            self.invoice["number"],
            f"ending in {self.payment_method['last4']}",
        ]


def portal_routes() -> list[tuple[str, str, list[str]]]:
    """(method, path template, parameter names) of every portal route taking an id."""
    # Built with no collaborators: only its routing table is read.
    router = portal_router(None, None, None, PortalSettings())  # type: ignore[arg-type]
    found: list[tuple[str, str, list[str]]] = []
    for route in router.routes:
        params = [name for name in route.path_parameters if name not in PUBLIC_PARAMS]
        if not params:
            continue
        template = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
            found.append((str(method), template, params))
    assert found, "no portal route takes an id: has the router moved?"
    return found


async def victim_of(merchant: Any) -> Victim:
    plan = await merchant.create_plan(name=f"Secret plan {merchant.slug}", amount=4700)
    # A Mastercard: its "ending in 4444" must not show where the Visas ending in 4242 do.
    made = await merchant.active_subscription(
        plan=plan, card=VICTIM_CARD, name=f"Victim of {merchant.slug}"
    )
    invoices = await merchant.paid_invoices(made.subscription["id"])
    assert len(invoices) == 1, invoices
    return Victim(made.customer, plan, made.subscription, made.payment_method, invoices[0])


@contextlib.asynccontextmanager
async def signed_in(gateway_url: str, url: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """An HTTP client holding a portal session (its cookie), and a CSRF token of it."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30, follow_redirects=True) as client:
        page = await client.get(url)
        assert page.status_code == 200, page.text
        assert str(page.url).endswith("/portal")
        token = CSRF.search(page.text)
        assert token, "the overview has no form with a CSRF token"
        yield client, token.group(1)


async def test_a_customer_cannot_reach_another_customers_subscriptions_or_invoices(
    system: Any, new_merchant: Any
) -> None:
    shop = await new_merchant()
    other_shop = await new_merchant()
    mine = await shop.active_subscription(name="Alice Insider")
    victims = [await victim_of(shop), await victim_of(other_shop)]
    histories = {
        v.subscription["id"]: (owner, len(await owner.events(v.subscription["id"])))
        for v, owner in zip(victims, (shop, other_shop), strict=True)
    }

    session = await shop.portal_session(mine.customer["id"])
    async with signed_in(system.gateway_url, session["url"]) as (client, csrf_token):
        overview = await client.get("/portal")
        for victim in victims:
            for secret in victim.secrets():
                assert secret not in overview.text, f"the overview shows {secret!r}"

        tried = []
        routes = portal_routes()
        routes += [("GET", path, ["invoice_id"]) for path in INVOICE_PATHS]
        for victim in victims:
            for method, template, params in routes:
                path = template.format(**{name: victim.value_for(name) for name in params})
                form = {
                    "csrf_token": csrf_token,
                    "reason": "other",
                    "comment": "not mine",
                    "payment_method": victim.payment_method["id"],
                }
                answer = await client.request(method, path, data=form if method == "POST" else None)
                tried.append((method, path, answer.status_code))
                assert answer.status_code in (403, 404), (method, path, answer.status_code)
                for secret in victim.secrets():
                    assert secret not in answer.text, (method, path, f"shows {secret!r}")

        # Nothing happened to the other customers' subscriptions.
        for victim in victims:
            owner, versions = histories[victim.subscription["id"]]
            after = await owner.events(victim.subscription["id"])
            assert len(after) == versions, [e["type"] for e in after]
            current = await owner.http.get(f"/v1/subscriptions/{victim.subscription['id']}")
            assert current.json()["status"] == "active"
            assert current.json()["payment_method"]["id"] == victim.payment_method["id"]

        # The session itself still works on its own subscription: the 404s were not a fluke.
        own = await client.get(f"/portal/subscriptions/{mine.subscription['id']}/cancel")
        assert own.status_code == 200, own.text
    assert any(method == "POST" for method, _, _ in tried), tried


async def test_my_own_subscription_cannot_take_another_customers_card(
    system: Any, merchant: Any
) -> None:
    mine = await merchant.active_subscription()
    victim = await victim_of(merchant)
    session = await merchant.portal_session(mine.customer["id"])
    async with signed_in(system.gateway_url, session["url"]) as (client, csrf_token):
        answer = await client.post(
            f"/portal/subscriptions/{mine.subscription['id']}/payment_method",
            data={"csrf_token": csrf_token, "payment_method": victim.payment_method["id"]},
        )
        for secret in victim.secrets():
            assert secret not in answer.text
    assert answer.status_code < 500, answer.text
    current = await merchant.http.get(f"/v1/subscriptions/{mine.subscription['id']}")
    assert current.json()["payment_method"]["id"] == mine.payment_method["id"]
    events = [e["type"] for e in await merchant.events(mine.subscription["id"])]
    assert "PaymentMethodUpdated" not in events, events
