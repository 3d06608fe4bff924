"""The mails as customers read them, in each of the four languages, and the catalogs behind them."""

from __future__ import annotations

import os
import re
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from babel.support import NullTranslations
from jinja2 import Environment

from billing_events.contract.events import CancellationScheduled, InvoicePaid, SubscriptionCanceled
from notifications.adapters.jinja_renderer import (
    JinjaMailRenderer,
    extract_messages,
    make_environment,
    template_names,
)
from notifications.domain.brand import DEFAULT_BRAND_COLOR
from notifications.domain.locale import SUPPORTED_LANGUAGES
from notifications.domain.mail import Facts, MailRequest, compose, mail_for
from notifications.domain.message import OutgoingMail, build_message
from notifications.templates import DOMAIN, LOCALES_DIR, TEMPLATES_DIR

PAID_AT = datetime(2025, 1, 5, 12, 0, tzinfo=UTC)
CANCELED_AT = datetime(2025, 3, 2, 10, 0, tzinfo=UTC)
ENDS_AT = datetime(2025, 2, 5, 9, 30, tzinfo=UTC)
TRANSLATED = [lang for lang in SUPPORTED_LANGUAGES if lang != "en"]


@pytest.fixture(scope="module")
def renderer() -> JinjaMailRenderer:
    return JinjaMailRenderer()


def write(renderer: JinjaMailRenderer, data: Any, facts: Facts) -> OutgoingMail:
    trigger = mail_for(data, "m_1")
    assert trigger is not None
    request = compose(trigger, facts)
    assert isinstance(request, MailRequest)
    return build_message(request, renderer)


def receipt(
    records: Any, renderer: JinjaMailRenderer, locale: str, **customer: Any
) -> OutgoingMail:
    paid = InvoicePaid(
        invoice_id="in_1",
        customer_id="cus_1",
        subscription_id="sub_1",
        amount_paid=2999,
        currency="EUR",
        paid_at=PAID_AT,
    )
    facts = Facts(
        records.merchant(), records.customer(locale, **customer), records.invoice(currency="EUR")
    )
    return write(renderer, paid, facts)


RECEIPTS = {
    "en": {
        "subject": "Your receipt from TechSolutions Inc. #TS-0001",
        "text": [
            "Hi Ana Gómez,",
            "Amount paid: €29.99",
            "Date paid: January 5, 2025",
            "Plan: Premium Monthly",
            "Billing period: Jan 5\u2009\u2013\u2009Feb 5, 2025",
            "- Premium Monthly (Jan 5\u2009\u2013\u2009Feb 5, 2025): €29.99",
            "Total: €29.99",
        ],
    },
    "es": {
        "subject": "Tu recibo de TechSolutions Inc. n.º TS-0001",
        "text": [
            "Hola, Ana Gómez:",
            "Aquí tienes el recibo de TechSolutions Inc. para tus registros.",
            "Importe pagado: 29,99\xa0€",
            "Fecha de pago: 5 de enero de 2025",
            "Período de facturación: 5 ene\u2009\u2013\u20095 feb 2025",
            "Total: 29,99\xa0€",
        ],
    },
    "pt": {
        "subject": "Seu recibo de TechSolutions Inc. nº TS-0001",
        "text": [
            "Olá, Ana Gómez,",
            "Aqui está o recibo de TechSolutions Inc. para os seus registros.",
            "Valor pago: €\xa029,99",
            "Data do pagamento: 5 de janeiro de 2025",
            "Plano: Premium Monthly",
            "Total: €\xa029,99",
        ],
    },
    "fr": {
        "subject": "Votre reçu TechSolutions Inc. n° TS-0001",
        "text": [
            "Bonjour Ana Gómez,",
            "Voici votre reçu de TechSolutions Inc. pour vos archives.",
            "Montant payé\xa0: 29,99\xa0€",
            "Date de paiement\xa0: 5 janvier 2025",
            "Formule\xa0: Premium Monthly",
            "Total\xa0: 29,99\xa0€",
        ],
    },
}


@pytest.mark.parametrize("locale", SUPPORTED_LANGUAGES)
def test_receipt_in_each_language(records: Any, renderer: JinjaMailRenderer, locale: str) -> None:
    mail = receipt(records, renderer, locale)
    expected = RECEIPTS[locale]
    assert mail.subject == expected["subject"]
    for line in expected["text"]:
        assert line in mail.text, f"{line!r} not in:\n{mail.text}"
    assert f'<html lang="{locale}">' in mail.html
    assert expected["text"][0] in mail.html
    assert mail.to_email == "ana@example.com"
    assert mail.sender_name == "TechSolutions Inc."
    assert mail.reply_to == "help@techsolutions.test"


CANCELLATIONS = {
    "en": (
        "Your Premium Monthly subscription has been canceled",
        "Your Premium Monthly subscription with TechSolutions Inc. was canceled on March 2, 2025.",
        "Reason: It's too expensive",
    ),
    "es": (
        "Tu suscripción a Premium Monthly ha sido cancelada",
        "Tu suscripción a Premium Monthly con TechSolutions Inc. se canceló el 2 de marzo de 2025.",
        "Motivo: Es demasiado caro",
    ),
    "pt": (
        "Sua assinatura do plano Premium Monthly foi cancelada",
        "Sua assinatura do plano Premium Monthly com TechSolutions Inc. foi cancelada em "
        "2 de março de 2025.",
        "Motivo: É muito caro",
    ),
    "fr": (
        "Votre abonnement Premium Monthly a été résilié",
        "Votre abonnement Premium Monthly auprès de TechSolutions Inc. a été résilié le "
        "2 mars 2025.",
        "Motif\xa0: C\u2019est trop cher",
    ),
}


@pytest.mark.parametrize("locale", SUPPORTED_LANGUAGES)
def test_cancellation_in_each_language(
    records: Any, renderer: JinjaMailRenderer, locale: str
) -> None:
    event = SubscriptionCanceled(
        subscription_id="sub_1",
        customer_id="cus_1",
        canceled_at=CANCELED_AT,
        reason="too_expensive",
        comment="Found a cheaper tool",
    )
    mail = write(
        renderer,
        event,
        Facts(records.merchant(), records.customer(locale), subscription=records.subscription()),
    )
    subject, sentence, reason = CANCELLATIONS[locale]
    assert mail.subject == subject
    assert sentence in mail.text
    assert reason in mail.text
    assert "Found a cheaper tool" in mail.text
    assert "Found a cheaper tool" in mail.html


def test_cancellation_at_period_end_says_it_ended(
    records: Any, renderer: JinjaMailRenderer
) -> None:
    event = SubscriptionCanceled(
        subscription_id="sub_1", customer_id="cus_1", canceled_at=ENDS_AT, at_period_end=True
    )
    mail = write(
        renderer,
        event,
        Facts(records.merchant(), records.customer("es"), subscription=records.subscription()),
    )
    assert mail.subject == "Tu suscripción a Premium Monthly ha finalizado"
    assert "Tal como solicitaste" in mail.text
    assert "Motivo" not in mail.text  # no reason given, no reason line


SCHEDULED = {
    "en": (
        "Your Premium Monthly subscription will end on February 5, 2025",
        "Your subscription stays active until February 5, 2025.",
    ),
    "es": (
        "Tu suscripción a Premium Monthly finalizará el 5 de febrero de 2025",
        "Tu suscripción seguirá activa hasta el 5 de febrero de 2025.",
    ),
    "pt": (
        "Sua assinatura do plano Premium Monthly termina em 5 de fevereiro de 2025",
        "Sua assinatura continua ativa até 5 de fevereiro de 2025.",
    ),
    "fr": (
        "Votre abonnement Premium Monthly prendra fin le 5 février 2025",
        "Votre abonnement reste actif jusqu\u2019au 5 février 2025.",
    ),
}


@pytest.mark.parametrize("locale", SUPPORTED_LANGUAGES)
def test_scheduled_cancellation_in_each_language(
    records: Any, renderer: JinjaMailRenderer, locale: str
) -> None:
    event = CancellationScheduled(subscription_id="sub_1", cancel_at=ENDS_AT, reason="unused")
    mail = write(
        renderer,
        event,
        Facts(records.merchant(), records.customer(locale), subscription=records.subscription()),
    )
    subject, sentence = SCHEDULED[locale]
    assert mail.subject == subject
    assert sentence in mail.text
    assert sentence in mail.html


def test_an_untranslated_locale_reads_english(records: Any, renderer: JinjaMailRenderer) -> None:
    mail = receipt(records, renderer, "de")
    assert mail.subject == "Your receipt from TechSolutions Inc. #TS-0001"
    assert "Amount paid: €29.99" in mail.text


def test_regional_locale_translates_by_language_and_formats_by_region(
    records: Any, renderer: JinjaMailRenderer
) -> None:
    mail = receipt(records, renderer, "pt-BR")
    assert mail.subject == "Seu recibo de TechSolutions Inc. nº TS-0001"
    assert "Valor pago: €\xa029,99" in mail.text


def test_customer_supplied_text_is_escaped_in_html_and_plain_in_text(
    records: Any, renderer: JinjaMailRenderer
) -> None:
    mail = receipt(records, renderer, "en", name='<script>alert("x")</script> & Co')
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in mail.html
    assert 'Hi <script>alert("x")</script> & Co,' in mail.text


def test_unsafe_brand_settings_fall_back_to_the_default_look(
    records: Any, renderer: JinjaMailRenderer
) -> None:
    paid = InvoicePaid(
        invoice_id="in_1", customer_id="cus_1", amount_paid=2999, currency="EUR", paid_at=PAID_AT
    )
    merchant = records.merchant(
        brand_color="red;background:url(javascript:x)", logo_url="javascript:alert(1)"
    )
    mail = write(renderer, paid, Facts(merchant, records.customer(), records.invoice()))
    assert f"background:{DEFAULT_BRAND_COLOR}" in mail.html
    assert "javascript" not in mail.html
    assert "<img" not in mail.html


def test_a_logo_and_a_pale_brand_color_get_a_readable_header(
    records: Any, renderer: JinjaMailRenderer
) -> None:
    merchant = records.merchant(brand_color="#FFEE00", logo_url="https://cdn.example.com/l.png")
    paid = InvoicePaid(
        invoice_id="in_1", customer_id="cus_1", amount_paid=2999, currency="EUR", paid_at=PAID_AT
    )
    mail = write(renderer, paid, Facts(merchant, records.customer(), records.invoice()))
    assert "background:#FFEE00;color:#000000" in mail.html
    assert '<img src="https://cdn.example.com/l.png"' in mail.html


def test_subject_is_one_header_line_whatever_the_names(
    records: Any, renderer: JinjaMailRenderer
) -> None:
    paid = InvoicePaid(
        invoice_id="in_1", customer_id="cus_1", amount_paid=2999, currency="EUR", paid_at=PAID_AT
    )
    merchant = records.merchant(name="Evil\r\nBcc: victim@example.com")
    mail = write(renderer, paid, Facts(merchant, records.customer(), records.invoice()))
    assert "\n" not in mail.subject
    assert "\r" not in mail.subject
    assert "\n" not in mail.sender_name
    assert "\r" not in mail.sender_name


def test_translated_markup_keeps_its_tags_and_escapes_its_arguments_in_html(
    tmp_path: Path,
) -> None:
    sentence = "<b>%(name)s</b> & co"
    (tmp_path / "t.html").write_text(
        f'{{{{ _("{sentence}", name=name) }}}}|{{% trans %}}{{{{ name }}}} & co{{% endtrans %}}'
    )
    (tmp_path / "t.txt").write_text(f'{{{{ _("{sentence}", name=name) }}}}')
    env = make_environment(NullTranslations(), tmp_path)
    name = '<i>"Ana"</i>'
    # As jinja2's own new-style gettext: the sentence is the translator's markup, the
    # arguments are data.
    assert env.get_template("t.html").render(name=name) == (
        "<b>&lt;i&gt;&#34;Ana&#34;&lt;/i&gt;</b> & co|&lt;i&gt;&#34;Ana&#34;&lt;/i&gt; & co"
    )
    assert env.get_template("t.txt").render(name=name) == sentence % {"name": name}


def test_templates_are_read_once_not_on_every_render(records: Any, tmp_path: Path) -> None:
    templates = tmp_path / "mail"
    shutil.copytree(TEMPLATES_DIR, templates)
    renderer = JinjaMailRenderer(templates_dir=templates)
    first = receipt(records, renderer, "es")
    subject_template = templates / "receipt.subject.txt"
    subject_template.write_text("changed on disk")
    os.utime(subject_template, (time.time() + 60, time.time() + 60))
    assert receipt(records, renderer, "es") == first
    assert receipt(records, JinjaMailRenderer(templates_dir=templates), "es").subject == (
        "changed on disk"
    )


# --- catalogs ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template_messages() -> set[str]:
    from babel.support import NullTranslations

    env: Environment = make_environment(NullTranslations())
    messages = extract_messages(env, template_names())
    assert len(messages) > 20  # the extraction itself works
    return messages


def catalog(language: str) -> Any:
    path = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po_file:
        return read_po(po_file, locale=language, domain=DOMAIN)


PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_sentence_of_the_templates_is_translated(
    language: str, template_messages: set[str]
) -> None:
    entries = {m.id: m for m in catalog(language) if m.id}
    untranslated = sorted(
        message
        for message in template_messages
        if message not in entries or not entries[message].string or entries[message].fuzzy
    )
    assert untranslated == []
    stale = sorted(set(entries) - template_messages)
    assert stale == [], "catalog entries no template uses"
    for message in template_messages:
        translated = entries[message].string
        assert set(PLACEHOLDER.findall(translated)) == set(PLACEHOLDER.findall(message)), (
            f"{language}: placeholders differ in {translated!r}"
        )
