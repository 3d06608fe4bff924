"""The envelope every billing event travels in, and the registry that maps names to models.

An envelope is what is stored in an event store, published on Kafka and read by consumers.
Its ``data`` is a typed pydantic model; old schema versions of ``data`` are upcast on read so
that every event ever published stays readable.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError


class ContractError(ValueError):
    """A message does not follow the event contract (bad JSON, unknown type, invalid data)."""


class EventData(BaseModel):
    """Base of every event payload. Subclasses set ``event_type`` and ``schema_version``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1


def utc_now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Metadata common to all events plus the typed payload."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    event_type: str
    schema_version: int = Field(ge=1)
    stream_id: str = Field(min_length=1, max_length=200)
    stream_version: int = Field(ge=0, description="1-based position in the stream; 0 = not stored")
    occurred_at: AwareDatetime = Field(default_factory=utc_now)
    merchant_id: str = Field(min_length=1, max_length=100)
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = None
    data: SerializeAsAny[EventData]

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    def kafka_headers(self) -> dict[str, str]:
        return {
            "event_type": self.event_type,
            "event_id": str(self.event_id),
            "schema_version": str(self.schema_version),
            "correlation_id": str(self.correlation_id),
            "merchant_id": self.merchant_id,
            "content-type": "application/json",
        }


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class EventRegistry:
    """Names and versions of every event type, with upcasters from old schema versions."""

    def __init__(self) -> None:
        self._types: dict[str, type[EventData]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, model: type[EventData]) -> type[EventData]:
        existing = self._types.get(model.event_type)
        if existing is not None and existing is not model:
            raise ValueError(f"event type {model.event_type!r} registered twice")
        self._types[model.event_type] = model
        return model

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a function turning ``data`` of ``from_version`` into ``from_version + 1``."""

        def decorate(fn: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = fn
            return fn

        return decorate

    def model_for(self, event_type: str) -> type[EventData]:
        try:
            return self._types[event_type]
        except KeyError:
            raise ContractError(f"unknown event type {event_type!r}") from None

    def models(self) -> Iterable[type[EventData]]:
        return (self._types[name] for name in sorted(self._types))

    def upcast(self, event_type: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
        model = self.model_for(event_type)
        if version > model.schema_version:
            raise ContractError(
                f"{event_type} schema_version {version} is newer than this reader "
                f"({model.schema_version})"
            )
        while version < model.schema_version:
            step = self._upcasters.get((event_type, version))
            if step is None:
                raise ContractError(f"no upcaster for {event_type} from version {version}")
            data = step(data)
            version += 1
        return data

    def load_data(self, event_type: str, version: int, data: dict[str, Any]) -> EventData:
        model = self.model_for(event_type)
        try:
            return model.model_validate(self.upcast(event_type, version, data))
        except ValidationError as exc:
            raise ContractError(f"invalid {event_type} data: {exc}") from exc

    def envelope_from_dict(self, raw: dict[str, Any]) -> Envelope:
        if not isinstance(raw, dict):
            raise ContractError("an event must be a JSON object")
        try:
            event_type = raw["event_type"]
            version = int(raw["schema_version"])
            data = raw["data"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ContractError(f"envelope field missing or invalid: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(event_type, str):
            raise ContractError("envelope 'data' must be an object, 'event_type' a string")
        model = self.model_for(event_type)
        payload = self.load_data(event_type, version, data)
        try:
            return Envelope.model_validate(
                {**raw, "schema_version": model.schema_version, "data": payload}
            )
        except ValidationError as exc:
            raise ContractError(f"invalid envelope: {exc}") from exc

    def parse(self, body: bytes | str) -> Envelope:
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ContractError(f"not JSON: {exc}") from exc
        return self.envelope_from_dict(raw)


registry = EventRegistry()


EventModel = TypeVar("EventModel", bound=type[EventData])


def event(cls: EventModel) -> EventModel:
    """Class decorator adding an event model to the public registry."""
    registry.register(cls)
    return cls


def new_envelope(
    data: EventData,
    *,
    stream_id: str,
    merchant_id: str,
    correlation_id: uuid.UUID,
    causation_id: uuid.UUID | None = None,
    stream_version: int = 0,
    occurred_at: datetime | None = None,
) -> Envelope:
    return Envelope(
        event_type=data.event_type,
        schema_version=data.schema_version,
        stream_id=stream_id,
        stream_version=stream_version,
        occurred_at=occurred_at or utc_now(),
        merchant_id=merchant_id,
        correlation_id=correlation_id,
        causation_id=causation_id,
        data=data,
    )
