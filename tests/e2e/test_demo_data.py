"""``make dev`` seeds a demo and prints a working portal link for each demo customer.

The session's system was started by ``billing-dev`` with the demo enabled, as a developer's
is. The test reads what it printed, checks the demo through the API with the printed key,
opens every printed link in Chromium, and seeds again to see the demo reused.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from billing_tools import demo
from billing_tools.dev import repo_root

pytestmark = pytest.mark.e2e

LOCALES = {"olivia": "en", "lucia": "es", "joao": "pt", "camille": "fr"}


def printed_demo(output: str, gateway_url: str) -> tuple[str, list[str]]:
    """The API key and the portal links in the launcher's summary, in print order."""
    assert "Demo merchant (created)" in output, output[-5000:]
    key = re.search(r"API key\s+(sk_test_[A-Za-z0-9_-]+)", output)
    assert key, output[-5000:]
    links = re.findall(re.escape(gateway_url) + r"/portal/s/[A-Za-z0-9_-]+", output)
    return key.group(1), links


async def test_the_launcher_seeds_the_demo_and_prints_working_portal_links(
    system: Any, new_context: Any
) -> None:
    api_key, links = printed_demo(system.output(), system.gateway_url)
    info = demo.load_state(repo_root() / ".devstack" / "dev", system.gateway_url)
    assert info is not None, "the demo's state file is missing"
    assert info.api_key == api_key
    assert [c.portal_url for c in info.customers] == links
    assert len(links) == len(demo.PEOPLE) == 4

    async with httpx.AsyncClient(
        base_url=system.gateway_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as api:
        for customer in info.customers:
            found = await api.get(f"/v1/customers/{customer.customer_id}")
            assert found.status_code == 200, found.text
            assert found.json()["locale"] == LOCALES[customer.key]
        statuses = {}
        for customer in info.customers:
            assert customer.subscription_id, customer
            answer = await api.get(f"/v1/subscriptions/{customer.subscription_id}")
            statuses[customer.key] = answer.json()["status"]
        assert statuses == {
            "olivia": "active",
            "lucia": "active",
            "joao": "canceled",
            "camille": "incomplete_expired",
        }
        olivia = info.customer("olivia")
        invoices = await api.get("/v1/invoices", params={"subscription": olivia.subscription_id})
        paid = [i for i in invoices.json()["data"] if i["status"] == "paid"]
        assert len(paid) >= 4, invoices.text  # the first invoice and three renewals

    for customer, link in zip(info.customers, links, strict=True):
        context, offline = await new_context()
        page = await context.new_page()
        response = await page.goto(link)
        assert response is not None, link
        assert response.status == 200, (customer.name, link)
        await expect(page.locator("html")).to_have_attribute("lang", re.compile(customer.locale))
        await expect(page.locator(".brand-name")).to_have_text(info.name)
        await expect(page.locator("main")).to_contain_text(customer.name)
        await expect(page.locator(".subscription")).to_have_count(1)
        if customer.key == "olivia":
            await expect(page.locator("table.invoices tbody tr")).to_have_count(len(paid))
        assert offline.blocked == [], offline.blocked

    # João canceled in the demo: his confirmation came, in Portuguese, after his receipt.
    joao = info.customer("joao")
    subjects = [m["subject"] for m in await system.mail_to(joao.email, at_least=2)]
    assert any("Team" in s and "cancelada" in s for s in subjects), subjects

    # The next start finds the same demo merchant and makes no second one.
    again = await demo.seed(
        system.gateway_url, system.admin_token, state_dir=repo_root() / ".devstack" / "dev"
    )
    assert again.reused
    assert (again.merchant_id, again.api_key) == (info.merchant_id, info.api_key)
    assert [c.customer_id for c in again.customers] == [c.customer_id for c in info.customers]
    assert set(c.portal_url for c in again.customers).isdisjoint(links)  # fresh links
