"""One subscription's whole life, as its merchant and its customer see it.

Merchant API: merchant, plan, customer, card, subscription (charged: active), portal session.
Customer, in Chromium: the portal shows every section, then the customer cancels through the
UI (button, reason, comment, confirmation) and sees it canceled at once. Afterwards: exactly
one ``SubscriptionCanceled`` in the history, the receipt and the cancellation mail in the sink,
and the pages fit a phone's screen.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
REASON = "too_expensive"
COMMENT = "Moving to a cheaper plan elsewhere.\nThanks for everything!"


def long_date(moment: datetime) -> str:
    """The portal's English long date, e.g. "December 23, 2026" (times are UTC)."""
    return f"{moment:%B} {moment.day}, {moment.year}"


def short_date(moment: datetime) -> str:
    return f"{moment:%b} {moment.day}, {moment.year}"


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def fits_horizontally(page: Page) -> tuple[int, int]:
    width: list[int] = await page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    return width[0], width[1]


async def assert_fits_phone(page: Page, what: str, screenshots: Path) -> None:
    await page.screenshot(path=str(screenshots / f"{what}.png"), full_page=True)
    scroll_width, inner_width = await fits_horizontally(page)
    assert scroll_width <= inner_width, f"{what} overflows: {scroll_width}px > {inner_width}px"


async def test_subscribe_see_everything_in_the_portal_cancel_and_get_mail(
    merchant: Any, system: Any, new_context: Any, tmp_path: Path
) -> None:
    plan = await merchant.create_plan(
        name="Pro", description="Unlimited projects, 100 GB and priority support."
    )
    customer = await merchant.create_customer(name="Ada Lovelace", locale="en")
    card = await merchant.attach_card(customer["id"])
    assert {k: card[k] for k in ("brand", "last4", "exp_month", "exp_year")} == {
        "brand": "visa",
        "last4": "4242",
        "exp_month": 12,
        "exp_year": 2034,
    }

    answer = await merchant.subscribe(customer["id"], plan["id"], card["id"])
    assert answer.status_code == 200, answer.text
    subscription = answer.json()
    assert subscription["status"] == "active"
    assert subscription["next_renewal_amount"] == 2900
    invoices = await merchant.paid_invoices(subscription["id"])
    assert [(i["status"], i["amount_paid"], i["plan_name"]) for i in invoices] == [
        ("paid", 2900, "Pro")
    ]
    invoice = invoices[0]

    session = await merchant.portal_session(customer["id"])
    context, offline = await new_context(viewport=PHONE)
    page = await context.new_page()
    response = await page.goto(session["url"])
    assert response is not None
    assert response.status == 200
    assert page.url.endswith("/portal"), page.url  # the link was exchanged for a session
    policy = (await response.all_headers()).get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy

    # Company, customer.
    await expect(page.locator(".brand-name")).to_have_text(merchant.name)
    await expect(page.locator("main")).to_contain_text("Ada Lovelace")

    # The subscription: plan name, description, image, price and interval, status.
    card_box = page.locator(f"#subscription-{subscription['id']}")
    await expect(card_box.locator("h3")).to_have_text("Pro")
    await expect(card_box.locator(".description")).to_have_text(plan["description"])
    await expect(card_box.locator(".price")).to_have_text("€29.00 per month")
    await expect(card_box.locator(".badge")).to_have_text("Active")
    image = card_box.locator("img.plan-image")
    await expect(image).to_have_attribute("src", plan["image_url"])
    await page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=await image.element_handle()
    )
    assert offline.images_served == [plan["image_url"]]

    # Next renewal: the date and the exact amount that will be charged.
    renewal = instant(subscription["next_renewal_at"])
    await expect(card_box).to_contain_text(f"€29.00 on {long_date(renewal)}")
    # The card on file: brand, last4, expiry.
    await expect(card_box).to_contain_text("Visa ending in 4242")
    await expect(page.locator(".payment-methods")).to_contain_text("Visa ending in 4242")
    await expect(page.locator(".payment-methods")).to_contain_text("12/2034")

    # Invoice history: date, number, amount, status, plan.
    rows = page.locator("table.invoices tbody tr")
    await expect(rows).to_have_count(1)
    cells = [c.strip() for c in await rows.first.locator("td").all_inner_texts()]
    assert cells == [
        short_date(instant(invoice["issued_at"])),
        invoice["number"],
        "€29.00",
        "Paid",
        "Pro",
    ]
    await assert_fits_phone(page, "overview", tmp_path)

    # Cancel through the UI: button, reason, comment, confirm.
    await card_box.get_by_role("link", name="Cancel subscription").click()
    await expect(page.locator("h1")).to_have_text("Cancel your subscription")
    await assert_fits_phone(page, "cancel-reason", tmp_path)
    await page.locator(f"#reason-{REASON}").check()
    await page.locator("#comment").fill(COMMENT)
    await page.get_by_role("button", name="Continue").click()
    await expect(page.locator("h1")).to_have_text("Confirm cancellation")
    await expect(page.locator("main")).to_contain_text("It's too expensive")
    await expect(page.locator("main")).to_contain_text("Moving to a cheaper plan elsewhere.")
    await assert_fits_phone(page, "cancel-confirm", tmp_path)
    await page.get_by_role("button", name="Confirm cancellation").click()

    # The overview shows the new state at once, without a reload.
    assert page.url.endswith("/portal"), page.url
    await expect(page.locator(".notice").first).to_contain_text(
        "Your Pro subscription has been canceled."
    )
    await expect(card_box.locator(".badge")).to_have_text("Canceled")
    await expect(card_box.get_by_role("link", name="Cancel subscription")).to_have_count(0)
    await assert_fits_phone(page, "canceled", tmp_path)
    assert offline.blocked == [], f"the portal reached for the network: {offline.blocked}"

    # The history: exactly one cancellation, with what the customer said.
    events = await merchant.events(subscription["id"])
    canceled = [e for e in events if e["type"] == "SubscriptionCanceled"]
    assert len(canceled) == 1, [e["type"] for e in events]
    assert canceled[0]["data"]["reason"] == REASON
    assert canceled[0]["data"]["comment"] == COMMENT
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    final = (await merchant.http.get(f"/v1/subscriptions/{subscription['id']}")).json()
    assert final["status"] == "canceled"

    # The mail: the receipt of the first invoice and the cancellation confirmation.
    mails = await system.mail_to(customer["email"], at_least=2)
    subjects = [m["subject"] for m in mails]
    assert any(invoice["number"] in s for s in subjects), subjects
    assert any("Pro subscription has been canceled" in s for s in subjects), subjects
    assert all(m["to"] == [customer["email"]] for m in mails)
