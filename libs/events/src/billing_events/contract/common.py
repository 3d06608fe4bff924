"""Value types shared by several events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
MinorUnits = Annotated[int, Field(ge=0, description="integer amount in the currency's minor unit")]
Interval = Literal["month", "year"]
Locale = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Money(Value):
    amount: MinorUnits
    currency: CurrencyCode


class PlanSnapshot(Value):
    """The plan as it was when the subscription took it: later plan edits do not reprice."""

    plan_id: Identifier
    name: str
    description: str = ""
    image_url: str | None = None
    amount: MinorUnits
    currency: CurrencyCode
    interval: Interval


class CardSummary(Value):
    """What may be known of a card outside the processor: never the number or the CVC."""

    payment_method_id: Identifier = Field(description="processor token")
    brand: str
    last4: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]
    exp_month: Annotated[int, Field(ge=1, le=12)]
    exp_year: Annotated[int, Field(ge=2000, le=2100)]


class Address(Value):
    line1: str = ""
    line2: str = ""
    city: str = ""
    postal_code: str = ""
    state: str = ""
    country: Annotated[str, StringConstraints(pattern=r"^([A-Z]{2})?$")] = ""


class Period(Value):
    start: AwareDatetime
    end: AwareDatetime


def period(start: datetime, end: datetime) -> Period:
    return Period(start=start, end=end)
