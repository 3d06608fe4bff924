"""Composition of the notifications service: projection, mail log, consumer, mail delivery.

``install(service)`` registers everything on a ``servicekit.Service`` (which owns the pool,
the broker, migrations at start, health and the ordered start/stop)::

    postgres + migrations (inbox, projection, mail log)
      -> dead-letter producer -> consumer attached -> mail delivery task
      -> waiting-mail re-check task -> kafka consumers start (servicekit, last)

Mail flows in two steps. The consumer's handler projects each event and, in the same inbox
transaction, writes the mail the event calls for into the mail log (or parks it there until
its customer, invoice or merchant is projected). The delivery task sends what is queued over
SMTP after commit, so a mail server outage delays mail instead of failing (and eventually
dead-lettering) the events. A periodic re-check releases parked mail whose facts arrived in a
way the event-driven release missed (see application/recheck.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import billing_events.contract  # noqa: F401  (registers every event model)
from billing_events.consumer import INBOX_MIGRATIONS, IdempotentConsumer
from billing_events.dead_letter import KafkaDeadLetterPublisher
from notifications.adapters.jinja_renderer import JinjaMailRenderer
from notifications.adapters.kafka import GROUP_ID, attach_consumer
from notifications.adapters.postgres import (
    PostgresMailOutbox,
    PostgresRepositories,
    PostgresUnitOfWork,
    QueuedMailSignal,
)
from notifications.adapters.schema import MIGRATIONS as SCHEMA_MIGRATIONS
from notifications.adapters.smtp import SmtpMailSender, SmtpSettings
from notifications.application.delivery import MailDelivery
from notifications.application.handler import NotificationHandler
from notifications.application.mailer import Mailer
from notifications.application.recheck import WaitingMailRecheck
from notifications.domain.message import MailRenderer
from servicekit.service import Service

MIGRATIONS = (*INBOX_MIGRATIONS, *SCHEMA_MIGRATIONS)


def smtp_settings_for(settings: Any) -> SmtpSettings:
    """``SMTP_*`` from the environment; SMTP host and port given in the service's settings
    (when it has them) win, so that one configuration object drives the process."""
    overrides = {
        name: getattr(settings, f"smtp_{name}")
        for name in ("host", "port")
        if getattr(settings, f"smtp_{name}", None) is not None
    }
    return SmtpSettings(**overrides)


@dataclass
class Wiring:
    """What ``install`` built; filled in as the service starts."""

    service: Service
    smtp: SmtpSettings
    renderer: MailRenderer
    consumer: IdempotentConsumer | None = None
    delivery: MailDelivery | None = None
    sender: SmtpMailSender | None = None
    recheck: WaitingMailRecheck | None = None
    dead_letters: KafkaDeadLetterPublisher | None = None
    _signal: QueuedMailSignal | None = field(default=None, repr=False)


def install(
    service: Service,
    *,
    smtp: SmtpSettings | None = None,
    renderer: MailRenderer | None = None,
    group_id: str = GROUP_ID,
    poll_interval: float = 5.0,
    recheck_interval: float = 30.0,
    delivery_batch_size: int = 32,
) -> Wiring:
    settings = service.settings
    wiring = Wiring(
        service,
        smtp=smtp or smtp_settings_for(settings),
        # Templates and catalogs load now: a broken translation fails the start, not a mail.
        renderer=renderer or JinjaMailRenderer(),
    )
    service.add_migrations(MIGRATIONS)

    dead_letters = KafkaDeadLetterPublisher(
        settings.bootstrap_servers, client_id=f"{settings.service_name}-dead-letters"
    )
    wiring.dead_letters = dead_letters
    service.add_component("dead-letter-producer", dead_letters.start, dead_letters.stop)

    async def attach() -> None:
        # The pool exists once the service started; servicekit starts the consumers after.
        handler = NotificationHandler(wiring.renderer, PostgresRepositories.on)
        wiring.consumer = attach_consumer(
            service.broker, service.pool, dead_letters, handler, group_id=group_id
        )

    service.add_component("notifications-consumer", attach)

    async def run_delivery() -> None:
        signal = QueuedMailSignal(service.pool)
        wiring._signal = signal
        # One SMTP connection, kept open between mails; closed (QUIT) when delivery ends.
        sender = wiring.sender = SmtpMailSender(wiring.smtp)
        wiring.delivery = MailDelivery(
            PostgresMailOutbox(service.pool),
            sender,
            signal,
            poll_interval=poll_interval,
            batch_size=delivery_batch_size,
        )
        await signal.start()
        try:
            await wiring.delivery.run()
        finally:
            try:
                await sender.close()
            finally:
                await signal.stop()

    async def stop_delivery() -> None:
        if wiring.delivery is not None:
            await wiring.delivery.stop()

    service.add_task("mail-delivery", run_delivery, stop_delivery)

    async def run_recheck() -> None:
        wiring.recheck = WaitingMailRecheck(
            PostgresUnitOfWork(service.pool), Mailer(wiring.renderer), interval=recheck_interval
        )
        await wiring.recheck.run()

    async def stop_recheck() -> None:
        if wiring.recheck is not None:
            await wiring.recheck.stop()

    service.add_task("waiting-mail-recheck", run_recheck, stop_recheck)

    async def mail_log() -> dict[str, int]:
        # Informational: waiting or failed mail is for operators, not a reason to be unready.
        return await PostgresMailOutbox(service.pool).counts()

    service.add_check("mail-log", mail_log)
    return wiring
