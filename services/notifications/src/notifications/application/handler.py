"""The consumer's handler: one event, one transaction (the inbox's)."""

from __future__ import annotations

from typing import Any

from billing_events.envelope import Envelope
from notifications.application.mailer import Mailer
from notifications.application.ports import RepositoriesFactory
from notifications.application.projector import PROJECTED_EVENTS, project
from notifications.domain.mail import mail_for
from notifications.domain.message import MailRenderer


class NotificationHandler:
    """Projects the event, queues the mail it calls for, then the mail it completes.

    Matches ``billing_events.consumer.Handler``: called with the connection of the inbox
    transaction, so the projection, the mail log and the inbox row commit together.
    """

    def __init__(self, renderer: MailRenderer, repositories: RepositoriesFactory) -> None:
        self._mailer = Mailer(renderer)
        self._repositories = repositories

    def acts_on(self, envelope: Envelope) -> bool:
        """Whether the event is projected or calls for a mail; the consumer settles the others
        (a charge, a renewal...) without a transaction."""
        return isinstance(envelope.data, PROJECTED_EVENTS) or (
            mail_for(envelope.data, envelope.merchant_id) is not None
        )

    async def __call__(self, envelope: Envelope, conn: Any) -> None:
        repositories = self._repositories(conn)
        updated = await project(envelope, repositories.projection)
        await self._mailer.on_event(envelope, repositories)
        if updated is not None:
            await self._mailer.on_update(updated, repositories)
