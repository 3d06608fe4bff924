"""The mail as it goes over SMTP: its envelope and its RFC 5322 / MIME bytes.

Written out directly rather than through :class:`email.message.EmailMessage`, whose header
parsing and refolding cost more CPU than the rest of sending a mail (2.5 ms against 0.12 ms
per mail here): a few fixed headers and two quoted-printable (or base64) parts need none of it.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, formataddr

from notifications.application.ports import QueuedMail
from notifications.domain.message import one_line

# Message-IDs are derived from the mail's key: the same mail sent twice (the at-least-once
# window of delivery) carries the same Message-ID, which receiving systems deduplicate on.
_MESSAGE_ID_NAMESPACE = uuid.UUID("6f1d3c2e-8d4b-4f7a-9a51-0f5e2c7b9d10")

# RFC 5322: header lines should stay within 78 characters and must within 998.
_LINE_WIDTH = 78
_MAX_LINE = 998
# UTF-8 bytes per RFC 2047 encoded-word of a subject: 52 base64 characters, so that "Subject: "
# and the word stay within the 76 characters RFC 2047 allows a line holding encoded-words.
_ENCODED_WORD_BYTES = 39
# Characters an address can't hold in a header: line breaks would start another header, angle
# brackets another address. (Whitespace inside a quoted local part stays allowed.)
_NOT_IN_ADDRESS = re.compile(r"[\x00-\x1f\x7f<>]")


def message_id(mail: QueuedMail, domain: str) -> str:
    return f"<{_message_token(mail)}@{domain}>"


def _message_token(mail: QueuedMail) -> uuid.UUID:
    return uuid.uuid5(_MESSAGE_ID_NAMESPACE, f"{mail.key.event_id}:{mail.key.kind.value}")


@dataclass(frozen=True, slots=True)
class SmtpMessage:
    """A mail ready for the SMTP transaction: its envelope and its RFC 5322 bytes."""

    sender: str
    """MAIL FROM: the service's own address."""
    recipient: str
    """RCPT TO: the customer's address."""
    content: bytes
    """The whole message, CRLF line endings, 7-bit clean unless :attr:`international`."""
    international: bool
    """An address is not ASCII: it is written as UTF-8 and the server must offer SMTPUTF8."""


def to_smtp_message(
    mail: QueuedMail, sender_address: str, *, now: datetime | None = None
) -> SmtpMessage:
    """The MIME message: a text part and an HTML alternative, From the merchant's name.

    Written out directly rather than through :class:`email.message.EmailMessage`, whose header
    parsing and refolding cost more CPU than the rest of sending a mail: a few fixed headers and
    two quoted-printable (or base64) parts need none of it. Header values are single lines
    (whitespace collapsed, addresses with line breaks refused), so no value can add a header.
    """
    outgoing = mail.mail
    token = _message_token(mail)
    domain = sender_address.rpartition("@")[2] or "localhost"
    international = not (
        sender_address.isascii()
        and outgoing.to_email.isascii()
        and (outgoing.reply_to is None or outgoing.reply_to.isascii())
    )
    headers = [
        _header("From", _mailbox(outgoing.sender_name, sender_address, "From")),
        _header("To", _mailbox(outgoing.to_name, outgoing.to_email, "To")),
    ]
    if outgoing.reply_to:
        headers.append(_header("Reply-To", _address(outgoing.reply_to)))
    # A boundary with "=_" cannot occur in quoted-printable or base64 text: no body can end a part.
    boundary = f"=_{token.hex}"
    headers += [
        _header("Subject", _unstructured(outgoing.subject, "Subject")),
        f"Date: {format_datetime(now or datetime.now(UTC))}",
        f"Message-ID: <{token}@{domain}>",
        # RFC 3834: an automatic message; vacation responders must not answer it.
        "Auto-Submitted: auto-generated",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"',
    ]
    content = "\r\n".join(
        [
            *headers,
            "",
            f"--{boundary}",
            _text_part("plain", outgoing.text),
            f"--{boundary}",
            _text_part("html", outgoing.html),
            f"--{boundary}--",
            "",
        ]
    )
    return SmtpMessage(
        sender=sender_address,
        recipient=outgoing.to_email,
        content=content.encode(),
        international=international,
    )


def _header(name: str, value: str) -> str:
    return f"{name}: {value}"


def _is_plain(text: str) -> bool:
    """ASCII that can stand in a header as it is: printable, nothing a reader would decode."""
    return text.isascii() and text.isprintable() and "=?" not in text


def _unstructured(text: str, header: str) -> str:
    text = one_line(text)
    if _is_plain(text):
        folded = _fold(text, len(header) + 2)
        if folded is not None:
            return folded
    return _encoded_words(text)


def _address(address: str) -> str:
    if _NOT_IN_ADDRESS.search(address) or not address.strip():
        raise ValueError(f"not an email address that can go in a mail header: {address!r}")
    return address.strip()


def _mailbox(display_name: str, address: str, header: str) -> str:
    address = _address(address)
    display_name = one_line(display_name)
    if not display_name:
        return address
    if _is_plain(display_name):
        # formataddr quotes a name with specials ("Acme, Inc.") and escapes quotes in it.
        folded = _fold(formataddr((display_name, address)), len(header) + 2)
        if folded is not None:
            return folded
    # One encoded-word, however long, as formataddr(charset="utf-8") writes it: readers differ on
    # the space between adjacent encoded-words in a name (RFC 2047 drops it, Python's parser
    # keeps it), so a name is split only when its line would pass the hard limit.
    word = _encoded_word(display_name.encode())
    if len(header) + len(word) + len(address) + 5 > _MAX_LINE:
        word = _encoded_words(display_name)
    last_line = word.rpartition("\r\n")[2]
    separator = " " if len(last_line) + len(address) + 3 <= _LINE_WIDTH else "\r\n "
    return f"{word}{separator}<{address}>"


def _fold(text: str, indent: int) -> str | None:
    """``text`` folded at spaces into lines of at most 78 characters where it can be (a line
    begins with the space it was folded at, so unfolding gives ``text`` back exactly); None
    when a word is too long to fit a header line at all."""
    if indent + len(text) <= _LINE_WIDTH:
        return text
    first, *rest = text.split(" ")
    lines: list[str] = []
    line = first
    width = indent
    for word in rest:
        # Never before an empty word: a continuation line must not be whitespace only.
        if word and width + len(line) + 1 + len(word) > _LINE_WIDTH:
            lines.append(line)
            width = 0
            line = " " + word
        else:
            line += " " + word
    lines.append(line)
    if indent + len(lines[0]) > _MAX_LINE or any(len(each) > _MAX_LINE for each in lines):
        return None
    return "\r\n".join(lines)


def _encoded_words(text: str) -> str:
    """``text`` as RFC 2047 base64 encoded-words of whole UTF-8 characters, one per line."""
    data = text.encode()
    words: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + _ENCODED_WORD_BYTES, len(data))
        while end < len(data) and 0x80 <= data[end] < 0xC0:
            end -= 1  # not inside a character: each word must decode on its own
        words.append(_encoded_word(data[start:end]))
        start = end
    return "\r\n ".join(words)


def _encoded_word(data: bytes) -> str:
    return f"=?utf-8?b?{binascii.b2a_base64(data, newline=False).decode('ascii')}?="


def _text_part(subtype: str, text: str) -> str:
    """A UTF-8 body part: quoted-printable when mostly ASCII (readable, compact), else base64;
    either way 7-bit with short lines."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    data = text.encode()
    # UTF-8 bytes beyond one per character: quoted-printable triples every non-ASCII byte.
    if (len(data) - len(text)) * 10 > len(data):
        encoding = "base64"
        body = base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")
    else:
        encoding = "quoted-printable"
        body = binascii.b2a_qp(data, istext=True).decode("ascii").replace("\n", "\r\n")
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n"
        f"\r\n{body}"
    )
