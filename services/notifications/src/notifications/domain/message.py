"""The message that leaves the service: recipient, subject and both parts, as plain values."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from notifications.domain.mail import MailRequest

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


class MailRenderer(Protocol):
    """Turns a mail request into the words of its locale (templates live in the adapters)."""

    def render(self, request: MailRequest) -> RenderedMail: ...


@dataclass(frozen=True)
class OutgoingMail:
    to_email: str
    to_name: str
    sender_name: str
    reply_to: str | None
    subject: str
    text: str
    html: str


def one_line(text: str) -> str:
    """A header value on one line: a merchant or plan name must not inject another header."""
    return _WHITESPACE.sub(" ", text).strip()


def build_message(request: MailRequest, renderer: MailRenderer) -> OutgoingMail:
    rendered = renderer.render(request)
    return OutgoingMail(
        to_email=request.recipient.email,
        to_name=one_line(request.recipient.name),
        sender_name=one_line(request.brand.name),
        reply_to=request.brand.support_email,
        subject=one_line(rendered.subject),
        text=rendered.text,
        html=rendered.html,
    )
