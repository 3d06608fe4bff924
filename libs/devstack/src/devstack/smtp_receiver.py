"""The mail sink's SMTP server: what a client needs to hand over mail (RFC 5321), no more.

The sink ran aiosmtpd, which spent about 1.4 ms of CPU per message on a 2-core benchmark
machine (it reads DATA line by line and builds a class for every address it parses): more
than the invoicing service per cancel, on the cores the system under test shares. This
protocol finds a message's end with one search of its buffer.

Commands: EHLO, HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, VRFY, HELP; extensions: PIPELINING,
8BITMIME, SMTPUTF8, SIZE. No TLS and no authentication: the sink listens on loopback only.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import cast

# (envelope sender, recipients, the message as sent, dot-stuffing undone); its result is unused
Deliver = Callable[[str, list[str], bytes], object]

DEFAULT_MAX_MESSAGE_SIZE = 32 * 1024 * 1024
# RFC 5321 allows 512 octets for a command line; be generous, but never buffer without end.
MAX_COMMAND_LINE = 4096
_END_OF_DATA = b"\r\n.\r\n"
_STUFFED_DOT = re.compile(rb"^\.", re.MULTILINE)
_MAIL_PARAMETERS = {"SIZE", "BODY", "SMTPUTF8"}


class SmtpReceiver(asyncio.Protocol):
    """One client connection. Pipelined commands are answered in order."""

    def __init__(
        self, deliver: Deliver, hostname: str, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    ) -> None:
        self._deliver = deliver
        self._hostname = hostname
        self._max_size = max_message_size
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._greeted = False
        self._in_data = False
        self._searched_to = 0  # where the next search for the end of DATA starts
        self._sender: str | None = None
        self._recipients: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport, but have its methods.
        self._transport = cast(asyncio.Transport, transport)
        self._reply(f"220 {self._hostname} ESMTP mail sink")

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._buffer.clear()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._transport is not None and not self._transport.is_closing():
            if self._in_data:
                if not self._take_message():
                    return
                continue
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_COMMAND_LINE:
                    self._buffer.clear()
                    self._reply("500 Error: line too long")
                return
            line = bytes(self._buffer[:end]).rstrip(b"\r")
            del self._buffer[: end + 1]
            self._command(line.decode("utf-8", "surrogateescape"))

    # -- commands ------------------------------------------------------------------------

    def _command(self, line: str) -> None:
        verb, _, argument = line.partition(" ")
        verb, argument = verb.upper(), argument.strip()
        handler = _COMMANDS.get(verb)
        if handler is None:
            self._reply(f'500 Error: command "{verb}" not recognized')
            return
        handler(self, argument)

    def _ehlo(self, argument: str) -> None:
        self._greet(
            "EHLO",
            argument,
            f"250-{self._hostname}",
            f"250-SIZE {self._max_size}",
            "250-8BITMIME",
            "250-SMTPUTF8",
            "250 PIPELINING",
        )

    def _helo(self, argument: str) -> None:
        self._greet("HELO", argument, f"250 {self._hostname}")

    def _greet(self, verb: str, client_name: str, *reply: str) -> None:
        if not client_name:
            self._reply(f"501 Syntax: {verb} hostname")
            return
        self._greeted = True
        self._reset()
        self._reply(*reply)

    def _mail(self, argument: str) -> None:
        if not self._greeted:
            self._reply("503 Error: send HELO first")
            return
        if self._sender is not None:
            self._reply("503 Error: nested MAIL command")
            return
        parsed = _path(argument, "FROM:")
        if parsed is None:
            self._reply("501 Syntax: MAIL FROM:<address>")
            return
        address, parameters = parsed
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.upper() not in _MAIL_PARAMETERS:
                self._reply(f"555 MAIL FROM parameter not recognized: {name}")
                return
            if name.upper() == "SIZE" and not value.isdigit():
                self._reply("501 Syntax: SIZE=<octets>")
                return
            if name.upper() == "SIZE" and int(value) > self._max_size:
                self._reply("552 Error: message size exceeds fixed maximum message size")
                return
        self._sender = address
        self._reply("250 OK")

    def _rcpt(self, argument: str) -> None:
        if self._sender is None:
            self._reply("503 Error: need MAIL command")
            return
        parsed = _path(argument, "TO:")
        if parsed is None or not parsed[0]:
            self._reply("501 Syntax: RCPT TO:<address>")
            return
        address, parameters = parsed
        if parameters:
            self._reply(f"555 RCPT TO parameter not recognized: {parameters[0]}")
            return
        self._recipients.append(address)
        self._reply("250 OK")

    def _data(self, argument: str) -> None:
        if argument:
            self._reply("501 Syntax: DATA")
            return
        if not self._recipients:
            self._reply("503 Error: need RCPT command")
            return
        self._in_data = True
        self._searched_to = 0
        self._reply("354 End data with <CR><LF>.<CR><LF>")

    def _rset(self, _argument: str) -> None:
        self._reset()
        self._reply("250 OK")

    def _noop(self, _argument: str) -> None:
        self._reply("250 OK")

    def _vrfy(self, _argument: str) -> None:
        self._reply("252 Cannot VRFY user, but will accept message and attempt delivery")

    def _help(self, _argument: str) -> None:
        self._reply("250 Supported commands: " + " ".join(sorted(_COMMANDS)))

    def _quit(self, _argument: str) -> None:
        self._reply("221 Bye")
        if self._transport is not None:
            self._transport.close()

    # -- the message ---------------------------------------------------------------------

    def _take_message(self) -> bool:
        """Hand over the message if all of it is buffered; False while more is to come."""
        buffer = self._buffer
        if buffer.startswith(b".\r\n"):  # an empty message: its end right after DATA
            content_end, data_end = 0, 3
        else:
            found = buffer.find(_END_OF_DATA, self._searched_to)
            if found < 0:
                if len(buffer) > self._max_size:
                    self._reply("552 Error: too much mail data")
                    if self._transport is not None:
                        self._transport.close()
                    return False
                # The end may straddle this chunk and the next: search its last bytes again.
                self._searched_to = max(0, len(buffer) - len(_END_OF_DATA) + 1)
                return False
            content_end, data_end = found + 2, found + len(_END_OF_DATA)
        content = _STUFFED_DOT.sub(b"", bytes(buffer[:content_end]))
        del buffer[:data_end]
        sender, recipients = self._sender or "", self._recipients
        self._in_data = False
        self._reset()
        self._deliver(sender, recipients, content)
        self._reply("250 Message accepted for delivery")
        return True

    def _reset(self) -> None:
        self._sender = None
        self._recipients = []

    def _reply(self, *lines: str) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write("".join(f"{line}\r\n" for line in lines).encode())


def _path(argument: str, keyword: str) -> tuple[str, list[str]] | None:
    """``FROM:<a@b.c> SIZE=10`` -> ("a@b.c", ["SIZE=10"]); None when it is not one."""
    if not argument.upper().startswith(keyword):
        return None
    rest = argument[len(keyword) :].strip()
    if rest.startswith("<"):
        close = rest.find(">")
        if close < 0:
            return None
        return rest[1:close], rest[close + 1 :].split()
    address, *parameters = rest.split() or [""]
    return address, parameters


_COMMANDS: dict[str, Callable[[SmtpReceiver, str], None]] = {
    "EHLO": SmtpReceiver._ehlo,
    "HELO": SmtpReceiver._helo,
    "MAIL": SmtpReceiver._mail,
    "RCPT": SmtpReceiver._rcpt,
    "DATA": SmtpReceiver._data,
    "RSET": SmtpReceiver._rset,
    "NOOP": SmtpReceiver._noop,
    "VRFY": SmtpReceiver._vrfy,
    "HELP": SmtpReceiver._help,
    "QUIT": SmtpReceiver._quit,
}
