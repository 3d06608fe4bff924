"""A card that attaches but whose first charge is declined: 402 with the decline code, and the
subscription never becomes active (nor does the customer get a receipt)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("number", "decline_code"),
    [("4000000000000002", "card_declined"), ("4000000000009995", "insufficient_funds")],
)
async def test_a_declined_first_charge_answers_402_and_nothing_starts(
    merchant: Any, number: str, decline_code: str
) -> None:
    plan = await merchant.create_plan()
    customer = await merchant.create_customer()
    card = await merchant.attach_card(customer["id"], number)
    assert card["last4"] == number[-4:]

    answer = await merchant.subscribe(customer["id"], plan["id"], card["id"])

    assert answer.status_code == 402, answer.text
    error = answer.json()["error"]
    assert error["code"] == decline_code, error
    assert error["message"], error
    subscription_id = error.get("subscription")
    assert subscription_id, f"the 402 does not say which subscription failed: {error}"
    current = await merchant.http.get(f"/v1/subscriptions/{subscription_id}")
    assert current.status_code == 200, current.text
    assert current.json()["status"] == "incomplete_expired"
    events = [e["type"] for e in await merchant.events(subscription_id)]
    assert "SubscriptionActivated" not in events, events
    assert "SubscriptionActivationFailed" in events, events
    invoices = await merchant.invoices_when(
        subscription_id, lambda found: any(i["last_decline_code"] for i in found)
    )
    assert len(invoices) == 1, invoices  # the first invoice, unpaid
    assert invoices[0]["status"] != "paid", invoices
    assert invoices[0]["amount_paid"] == 0, invoices
    assert invoices[0]["last_decline_code"] == decline_code, invoices
