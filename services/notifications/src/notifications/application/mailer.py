"""Queues the mail an event calls for, or parks it until the facts it needs are projected.

Nothing is sent here: this runs inside the consumer's inbox transaction, and a mail server
must not be able to roll back (or stall) the projection. The mail is written to the mail log
in that transaction and :mod:`notifications.application.delivery` sends it after commit.
"""

from __future__ import annotations

import structlog

from billing_events.envelope import Envelope
from notifications.application.ports import MailKey, Repositories, WaitingMail
from notifications.application.projector import RecordKind, Updated
from notifications.domain.mail import (
    MailRequest,
    Waiting,
    compose,
    mail_for,
)
from notifications.domain.message import MailRenderer, OutgoingMail, build_message

log = structlog.stdlib.get_logger(__name__)


class Mailer:
    def __init__(self, renderer: MailRenderer) -> None:
        self._renderer = renderer

    async def on_event(self, envelope: Envelope, repositories: Repositories) -> None:
        """Queue (or park) the mail ``envelope`` calls for, if it calls for one."""
        trigger = mail_for(envelope.data, envelope.merchant_id)
        if trigger is None:
            return
        key = MailKey(envelope.event_id, trigger.kind)
        outcome = compose(trigger, await repositories.projection.facts(trigger.needs()))
        if isinstance(outcome, Waiting):
            if await repositories.mail_log.wait(key, envelope, outcome.needs, outcome.missing):
                log.info(
                    "mail waits for facts", mail=trigger.kind.value, missing=list(outcome.missing)
                )
            return
        mail = self._message(outcome)
        if await repositories.mail_log.queue(key, envelope.merchant_id, envelope, mail):
            log.info("mail queued", mail=trigger.kind.value)
        else:
            log.info("mail already in the log; not queued again", mail=trigger.kind.value)

    async def on_update(self, updated: Updated, repositories: Repositories) -> None:
        """Write the waiting mails that ``updated`` may have completed."""
        mail_log = repositories.mail_log
        match updated.kind:
            case RecordKind.MERCHANT:
                waiting = await mail_log.waiting_on(updated.merchant_id)
            case RecordKind.CUSTOMER:
                waiting = await mail_log.waiting_on(
                    updated.merchant_id, customer_id=updated.record_id
                )
            case RecordKind.INVOICE:
                waiting = await mail_log.waiting_on(
                    updated.merchant_id, invoice_id=updated.record_id
                )
            case RecordKind.SUBSCRIPTION:
                waiting = await mail_log.waiting_on(
                    updated.merchant_id, subscription_id=updated.record_id
                )
        for parked in waiting:
            await self.retry(parked, repositories)

    async def retry(self, parked: WaitingMail, repositories: Repositories) -> bool:
        """Compose a waiting mail again; whether it could be written (and so was queued)."""
        trigger = mail_for(parked.trigger.data, parked.trigger.merchant_id)
        if trigger is None:  # the log only parks mail that events asked for
            return False
        outcome = compose(trigger, await repositories.projection.facts(trigger.needs()))
        if isinstance(outcome, Waiting):
            if outcome.missing != parked.missing:
                await repositories.mail_log.still_waiting(
                    parked.key, outcome.needs, outcome.missing
                )
            return False
        await repositories.mail_log.release(parked.key, self._message(outcome))
        log.info("waiting mail queued", mail=trigger.kind.value, event_id=str(parked.key.event_id))
        return True

    def _message(self, request: MailRequest) -> OutgoingMail:
        return build_message(request, self._renderer)
