"""Bad input to the merchant API gets a clear JSON error with a stable code, and loses
nothing; Idempotency-Key replays a request's answer and refuses a different request."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e


def error_of(answer: httpx.Response) -> dict[str, Any]:
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    error: dict[str, Any] = answer.json()["error"]
    assert isinstance(error["code"], str), error
    assert error["code"], error
    assert isinstance(error["message"], str), error
    assert error["message"], error
    return error


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "authentication_required"),
        ("Bearer sk_test_not-a-real-key-0000000000000000", "invalid_api_key"),
        ("Basic dXNlcjpwYXNz", "authentication_required"),
        ("Bearer", "authentication_required"),
    ],
)
async def test_a_missing_or_wrong_api_key_is_401_json(
    system: Any, authorization: str | None, code: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with httpx.AsyncClient(base_url=system.gateway_url, timeout=30) as http:
        for method, path in (
            ("POST", "/v1/customers"),
            ("GET", "/v1/subscriptions/sub_x"),
            ("POST", "/v1/portal/sessions"),
        ):
            body = {"email": "a@example.com", "name": "A"} if method == "POST" else None
            answer = await http.request(method, path, headers=headers, json=body)
            assert answer.status_code == 401, (method, path, answer.text)
            assert error_of(answer)["code"] == code, answer.text


async def test_another_merchants_key_does_not_open_this_merchants_data(
    new_merchant: Any,
) -> None:
    owner, stranger = await new_merchant(), await new_merchant()
    customer = await owner.create_customer()
    answer = await stranger.http.get(f"/v1/customers/{customer['id']}")
    assert answer.status_code == 404, answer.text
    assert customer["email"] not in answer.text


@pytest.mark.parametrize(
    ("card", "code", "param"),
    [
        ({"number": "4242424242424241"}, "invalid_number", "number"),  # fails Luhn
        ({"number": "4242 4242"}, "invalid_number", "number"),
        ({"exp_month": 13}, "invalid_expiry_month", "exp_month"),
        ({"exp_month": 1, "exp_year": 2020}, "expired_card", None),
        ({"cvc": "12"}, "invalid_cvc", "cvc"),
    ],
)
async def test_an_invalid_card_is_a_clear_4xx_that_never_echoes_it(
    merchant: Any, card: dict[str, Any], code: str, param: str | None
) -> None:
    customer = await merchant.create_customer()
    body = {
        "customer": customer["id"],
        "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}
        | card,
    }
    answer = await merchant.post("/v1/payment_methods", body)
    assert 400 <= answer.status_code < 500, answer.text
    error = error_of(answer)
    assert error["code"] == code, error
    if param is not None:
        assert param in (error.get("param") or ""), error
    assert body["card"]["number"].replace(" ", "") not in answer.text.replace(" ", "")


async def test_malformed_requests_are_400_json_and_create_nothing(merchant: Any) -> None:
    for content, content_type in (
        (b"{not json", "application/json"),
        (b'{"email": "a@example.com"}', "application/json"),  # name missing
        (b'{"email": "not-an-email", "name": "A"}', "application/json"),
        (b'{"email": "a@example.com", "name": "A", "plan": "x"}', "application/json"),
    ):
        answer = await merchant.http.post(
            "/v1/customers", content=content, headers={"content-type": content_type}
        )
        assert 400 <= answer.status_code < 500, (content, answer.text)
        error_of(answer)
    answer = await merchant.post(
        "/v1/plans", {"name": "X", "amount": -1, "currency": "EUR", "interval": "month"}
    )
    assert 400 <= answer.status_code < 500, answer.text
    assert error_of(answer).get("param") == "amount", answer.text


async def test_the_same_idempotency_key_and_body_replays_the_first_answer(
    merchant: Any,
) -> None:
    key = f"e2e-{uuid.uuid4()}"
    body = {"email": f"idem-{uuid.uuid4().hex[:8]}@example.com", "name": "Idem Potent"}
    first = await merchant.post("/v1/customers", body, idempotency_key=key)
    second = await merchant.post("/v1/customers", body, idempotency_key=key)
    assert first.status_code == 201, first.text
    assert second.status_code == first.status_code
    assert second.json() == first.json()  # the same customer, not a second one
    assert second.headers.get("idempotent-replayed") == "true", second.headers

    other = await merchant.post("/v1/customers", body, idempotency_key=f"e2e-{uuid.uuid4()}")
    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]  # without the key: a new customer


async def test_the_same_idempotency_key_with_another_body_is_refused(merchant: Any) -> None:
    key = f"e2e-{uuid.uuid4()}"
    first = await merchant.post(
        "/v1/customers", {"email": "first@example.com", "name": "First"}, idempotency_key=key
    )
    assert first.status_code == 201, first.text
    second = await merchant.post(
        "/v1/customers", {"email": "second@example.com", "name": "Second"}, idempotency_key=key
    )
    assert 400 <= second.status_code < 500, second.text
    assert error_of(second)["code"] == "idempotency_key_reused", second.text
    # The refused request created nothing: the key still answers with the first customer.
    again = await merchant.post(
        "/v1/customers", {"email": "first@example.com", "name": "First"}, idempotency_key=key
    )
    assert again.json()["id"] == first.json()["id"]


async def test_an_idempotent_subscription_charges_once(merchant: Any) -> None:
    plan = await merchant.create_plan()
    customer = await merchant.create_customer()
    card = await merchant.attach_card(customer["id"])
    key = f"e2e-{uuid.uuid4()}"
    body = {"customer": customer["id"], "plan": plan["id"], "payment_method": card["id"]}
    first = await merchant.post("/v1/subscriptions", body, idempotency_key=key)
    second = await merchant.post("/v1/subscriptions", body, idempotency_key=key)
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json()["id"] == second.json()["id"]
    invoices = await merchant.paid_invoices(first.json()["id"])
    assert [i["status"] for i in invoices] == ["paid"], invoices
