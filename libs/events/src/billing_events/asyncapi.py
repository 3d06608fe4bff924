"""The AsyncAPI 3.0 description of the billing topics: which messages travel where, and how.

Channels are the topics of :mod:`billing_events.topics`. Every message is keyed by its stream id
and carries :meth:`~billing_events.envelope.Envelope.kafka_headers`; its payload is the
published JSON Schema of its envelope (``events/<Type>.v<N>.json``, ``commands/...``), referred
to by relative path so that the schema files stay the single source of truth.

Which stream category (and so which topic) an event is written to is a fact of the flows, not
of the model: it is declared here, and building the document fails for a type that is missing,
so that the published description can never silently leave a message out.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from billing_events import dead_letter, topics
from billing_events.envelope import Envelope, EventData

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
DEAD_LETTER_MESSAGE = "DeadLetter"

# Stream categories whose topic carries each event type. CommandRejected goes to the topic of
# the command's target stream, so it appears wherever commands are addressed.
_COMMAND_TARGETS = ("plan", "customer", "subscription", "invoice", "clock")
EVENT_CATEGORIES: Mapping[str, tuple[str, ...]] = {
    "MerchantRegistered": ("merchant",),
    "PlanCreated": ("plan",),
    "CustomerRegistered": ("customer",),
    "CustomerProfileUpdated": ("customer",),
    "PaymentMethodAttached": ("customer",),
    "SubscriptionCreated": ("subscription",),
    "SubscriptionActivated": ("subscription",),
    "SubscriptionActivationFailed": ("subscription",),
    "SubscriptionRenewed": ("subscription",),
    "PlanChanged": ("subscription",),
    "PaymentMethodUpdated": ("subscription",),
    "CancellationScheduled": ("subscription",),
    "CancellationRevoked": ("subscription",),
    "SubscriptionCanceled": ("subscription",),
    "SubscriptionPutOnHold": ("subscription",),
    "SubscriptionReactivated": ("subscription",),
    "RetentionOfferAccepted": ("subscription",),
    "LicenseKeyIssued": ("subscription",),
    "InvoiceIssued": ("invoice",),
    "ChargeSucceeded": ("invoice",),
    "ChargeFailed": ("invoice",),
    "InvoicePaid": ("invoice",),
    "InvoiceMarkedUncollectible": ("invoice",),
    "TestClockAdvanced": ("clock",),
    "CommandRejected": _COMMAND_TARGETS,
}

# The command topic of the service that owns each command's target stream.
COMMAND_TOPICS: Mapping[str, topics.Topic] = {
    "CreatePlan": topics.SUBSCRIPTIONS_COMMANDS,
    "RegisterCustomer": topics.SUBSCRIPTIONS_COMMANDS,
    "AttachPaymentMethod": topics.SUBSCRIPTIONS_COMMANDS,
    "CreateSubscription": topics.SUBSCRIPTIONS_COMMANDS,
    "CancelSubscription": topics.SUBSCRIPTIONS_COMMANDS,
    "UpdateSubscriptionPaymentMethod": topics.SUBSCRIPTIONS_COMMANDS,
    "AdvanceTestClock": topics.SUBSCRIPTIONS_COMMANDS,
}

_COMMAND_TOPIC_OWNERS: Mapping[str, str] = {
    topics.SUBSCRIPTIONS_COMMANDS.name: "subscriptions",
    topics.INVOICING_COMMANDS.name: "invoicing",
}

# What each envelope header means. Envelope.kafka_headers() is the source of the names; a new
# header there must be described here before the document can be built.
_HEADER_DOCS: Mapping[str, tuple[str, str | None]] = {
    "event_type": ("the envelope's event_type: route before parsing the body", None),
    "event_id": ("the envelope's event_id (a command's id for commands)", "uuid"),
    "schema_version": ("the envelope's schema_version, as a decimal string", None),
    "correlation_id": ("the envelope's correlation_id", "uuid"),
    "merchant_id": ("the merchant the message belongs to", None),
    "content-type": ("media type of the value", None),
}
# Headers whose value follows from the message type, so the schema can pin it.
_FIXED_HEADERS = frozenset({"event_type", "schema_version", "content-type"})

_DEAD_LETTER_HEADERS: Mapping[str, tuple[str, bool]] = {
    dead_letter.REASON: (
        "why: 'malformed' (not JSON, unknown type, invalid) or "
        "'handler_failed' (the handler raised on every attempt)",
        True,
    ),
    dead_letter.ERROR_TYPE: ("qualified name of the exception", True),
    dead_letter.ERROR_MESSAGE: ("the exception's message, truncated", True),
    dead_letter.ORIGINAL_TOPIC: ("topic the message was consumed from", True),
    dead_letter.ORIGINAL_PARTITION: ("its partition, decimal", True),
    dead_letter.ORIGINAL_OFFSET: ("its offset, decimal", True),
    dead_letter.ATTEMPTS: ("how many times the handler was tried, decimal", True),
    dead_letter.CONSUMER: ("the consumer (group) that gave up", True),
    dead_letter.FAILED_AT: ("when it gave up, ISO 8601 UTC", True),
    dead_letter.ORIGINAL_KEY: ("the original key, when the message had one", False),
    dead_letter.ORIGINAL_TIMESTAMP: ("the original broker timestamp in ms, when known", False),
    dead_letter.ERROR_TRACEBACK: (
        "the end of the handler's traceback (handler_failed only)",
        False,
    ),
}


@dataclass(frozen=True)
class MessageSpec:
    """One message type at one schema version, and the schema file describing its payload."""

    kind: str  # "events" or "commands"
    model_name: str
    version: int
    schema_path: str  # relative to the AsyncAPI document
    summary: str

    @property
    def message_id(self) -> str:
        return f"{self.model_name}.v{self.version}"


def message_specs(
    models: Iterable[type[EventData]],
    kind: str,
    schema_path: Callable[[str, str, int], str],
    older_versions: Mapping[str, Sequence[int]],
) -> list[MessageSpec]:
    """Specs for the current version of each model plus the still-published older versions."""
    specs: list[MessageSpec] = []
    for model in models:
        current = model.schema_version
        summary = _first_paragraph(model.__doc__) or f"The {model.event_type} {kind[:-1]}."
        for version in sorted({*older_versions.get(model.event_type, ()), current}):
            specs.append(
                MessageSpec(
                    kind=kind,
                    model_name=model.event_type,
                    version=version,
                    schema_path=schema_path(kind, model.event_type, version),
                    # The docstring describes the current model, not a superseded version.
                    summary=summary
                    if version == current
                    else f"Superseded by version {current}; still published, upcast on read.",
                )
            )
    return specs


def build(
    events: Sequence[MessageSpec], commands: Sequence[MessageSpec], version: str
) -> dict[str, Any]:
    """The AsyncAPI document as a plain dict (render it with :func:`render`)."""
    _require_routes(events, EVENT_CATEGORIES, "EVENT_CATEGORIES")
    _require_routes(commands, COMMAND_TOPICS, "COMMAND_TOPICS")

    messages: dict[str, Any] = {spec.message_id: _message(spec) for spec in (*events, *commands)}
    messages[DEAD_LETTER_MESSAGE] = _dead_letter_message()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    categories = {topic.name: category for category, topic in topics.EVENT_TOPICS.items()}
    for topic in topics.all_topics():
        if topic.name.endswith(topics.DEAD_LETTER_SUFFIX):
            source = topic.name.removesuffix(topics.DEAD_LETTER_SUFFIX)
            channels[topic.name] = _channel(
                topic,
                f"Messages of `{source}` that a consumer gave up on, byte for byte, with "
                "`dlq.*` headers saying why. Republish the value with its original headers "
                "to the original topic once the cause is fixed.",
                [],
                extra_messages={DEAD_LETTER_MESSAGE: DEAD_LETTER_MESSAGE},
            )
            operations[f"{topic.name}.send"] = _operation(
                "send", topic, [], "Consumers park the messages they cannot process here."
            )
        elif topic.name in categories:
            category = categories[topic.name]
            carried = [s for s in events if category in EVENT_CATEGORIES[s.model_name]]
            channels[topic.name] = _channel(
                topic,
                f"Events of the `{category}-<id>` streams, keyed by stream id so that one "
                "stream's events stay in order on one partition.",
                carried,
            )
            operations[f"{topic.name}.send"] = _operation(
                "send", topic, carried, "The billing system publishes these events (outbox)."
            )
        elif topic.name in _COMMAND_TOPIC_OWNERS:
            owner = _COMMAND_TOPIC_OWNERS[topic.name]
            carried = [s for s in commands if COMMAND_TOPICS[s.model_name] == topic]
            channels[topic.name] = _channel(
                topic,
                f"Commands to the {owner} service, keyed by the target stream id. Each "
                "command is answered on the target stream's event topic: by the events it "
                "caused (causation_id = the command's event_id) or by a CommandRejected.",
                carried,
            )
            operations[f"{topic.name}.receive"] = _operation(
                "receive", topic, carried, f"The {owner} service consumes these commands."
            )
        else:
            raise ValueError(
                f"topic {topic.name} is neither an event, a command nor a dead-letter topic: "
                "describe it in billing_events.asyncapi"
            )

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Billing events",
            "version": version,
            "description": (
                "The public, versioned event contract of the self-hosted billing system. "
                "Every message is a JSON envelope (event_id, event_type, schema_version, "
                "stream_id, stream_version, occurred_at, merchant_id, correlation_id, "
                "causation_id, data) keyed by its stream id. A published schema version only "
                "ever changes compatibly; an incompatible change is a new schema_version, and "
                "readers upcast older versions, which stay listed here."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "description": "The deployment's Kafka (KAFKA_BOOTSTRAP_SERVERS).",
                "variables": {"bootstrap": {"default": "127.0.0.1:9092"}},
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render(document: Mapping[str, Any]) -> str:
    """Stable YAML: sorted keys, block style, no line wrapping (one-line diffs), a header."""
    body = yaml.safe_dump(
        dict(document), sort_keys=True, default_flow_style=False, allow_unicode=True, width=10_000
    )
    header = (
        "# Generated by `make schemas` (python -m billing_events.schema_export) from the\n"
        "# billing_events models and topics. Do not edit by hand.\n"
    )
    return header + str(body)


def _require_routes(specs: Sequence[MessageSpec], routes: Mapping[str, Any], name: str) -> None:
    unrouted = sorted({s.model_name for s in specs} - set(routes))
    if unrouted:
        raise ValueError(
            f"no topic declared for {', '.join(unrouted)}: add them to "
            f"billing_events.asyncapi.{name}"
        )


def _first_paragraph(doc: str | None) -> str:
    paragraph = inspect.cleandoc(doc or "").split("\n\n", 1)[0]
    return " ".join(paragraph.split())


def _channel(
    topic: topics.Topic,
    description: str,
    carried: Sequence[MessageSpec],
    extra_messages: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    refs = {s.message_id: s.message_id for s in carried} | dict(extra_messages or {})
    return {
        "address": topic.name,
        "description": description,
        "messages": {key: {"$ref": f"#/components/messages/{ref}"} for key, ref in refs.items()},
        "bindings": {
            "kafka": {
                "topic": topic.name,
                "partitions": topic.partitions,
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _operation(
    action: str, topic: topics.Topic, carried: Sequence[MessageSpec], summary: str
) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{topic.name}"},
        "summary": summary,
        # Without a list the operation covers every message of the channel (dead letters).
        **(
            {
                "messages": [
                    {"$ref": f"#/channels/{topic.name}/messages/{s.message_id}"} for s in carried
                ]
            }
            if carried
            else {}
        ),
    }


def _message(spec: MessageSpec) -> dict[str, Any]:
    return {
        "name": spec.model_name,
        "title": f"{spec.model_name} v{spec.version}",
        "summary": spec.summary,
        "contentType": "application/json",
        "headers": envelope_headers_schema(spec.model_name, spec.version),
        "payload": {"$ref": spec.schema_path},
        "bindings": {
            "kafka": {"key": _stream_key_schema(), "bindingVersion": KAFKA_BINDING_VERSION}
        },
    }


def envelope_headers_schema(event_type: str, version: int) -> dict[str, Any]:
    """JSON Schema of the Kafka headers of one message type, from Envelope.kafka_headers()."""
    sample = Envelope.model_construct(
        event_id=uuid.UUID(int=0),
        event_type=event_type,
        schema_version=version,
        stream_id="sample-0",
        stream_version=0,
        occurred_at=datetime(2000, 1, 1, tzinfo=UTC),
        merchant_id="sample",
        correlation_id=uuid.UUID(int=0),
        causation_id=None,
        data=EventData(),
    ).kafka_headers()
    undocumented = sorted(set(sample) - set(_HEADER_DOCS))
    if undocumented:
        raise ValueError(
            f"Envelope.kafka_headers() has undocumented header(s) {', '.join(undocumented)}: "
            "describe them in billing_events.asyncapi._HEADER_DOCS"
        )
    properties: dict[str, Any] = {}
    for name, value in sample.items():
        description, fmt = _HEADER_DOCS[name]
        prop: dict[str, Any] = {"type": "string", "description": description}
        if fmt is not None:
            prop["format"] = fmt
        if name in _FIXED_HEADERS:
            prop["const"] = value
        properties[name] = prop
    return {"type": "object", "properties": properties, "required": sorted(sample)}


def _stream_key_schema() -> dict[str, Any]:
    categories = "|".join(sorted(topics.EVENT_TOPICS))
    return {
        "type": "string",
        "description": "the stream id, `<category>-<id>`: one stream's messages stay in order",
        "pattern": f"^({categories})-.+$",
    }


def _dead_letter_message() -> dict[str, Any]:
    properties = {
        name: {"type": "string", "description": description}
        for name, (description, _) in _DEAD_LETTER_HEADERS.items()
    }
    required = sorted(name for name, (_, needed) in _DEAD_LETTER_HEADERS.items() if needed)
    return {
        "name": DEAD_LETTER_MESSAGE,
        "title": "Dead letter",
        "summary": "A message a consumer gave up on, with the reason.",
        "description": (
            "The value and key are the original message's, byte for byte (it may not even be "
            "JSON). The original headers are kept; the `dlq.*` headers describe the failure."
        ),
        "headers": {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": {"type": "string"},
        },
        "payload": {"description": "the original message value, unchanged"},
    }
