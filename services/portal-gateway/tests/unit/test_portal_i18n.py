"""Unit tests of the message catalogs: complete, consistent, and really translated."""

from __future__ import annotations

import string
from dataclasses import asdict
from typing import get_args

import pytest

from billing_events.contract.events import CancellationReason
from portal_gateway.portal.i18n import CATALOGS, message_names, messages_for
from portal_gateway.portal.i18n.en import EN
from portal_gateway.portal.locales import SUPPORTED_LANGUAGES

TRANSLATIONS = [language for language in SUPPORTED_LANGUAGES if language != "en"]


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_there_is_a_catalog_for_every_supported_language() -> None:
    assert set(CATALOGS) == set(SUPPORTED_LANGUAGES)
    assert messages_for("de") is EN  # unknown languages fall back to English


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_translations_keep_the_english_placeholders(language: str) -> None:
    english, translated = asdict(EN), asdict(CATALOGS[language])
    for name in message_names():
        assert _placeholders(translated[name]) == _placeholders(english[name]), name


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_no_message_is_empty(language: str) -> None:
    for name, text in asdict(CATALOGS[language]).items():
        assert text.strip(), f"{language}.{name} is empty"


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_translations_are_not_english_left_in_place(language: str) -> None:
    english, translated = asdict(EN), asdict(CATALOGS[language])
    same = {name for name in message_names() if translated[name] == english[name]}
    # Words that are spelled the same in both languages are fine; whole sentences are not.
    assert all(len(english[name]) < 16 for name in same), same


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_cancellation_reason_has_a_label(language: str) -> None:
    messages = CATALOGS[language]
    for code in get_args(CancellationReason):
        assert messages.reason(code) != code


def test_status_labels_fall_back_to_readable_text() -> None:
    assert EN.subscription_status("active") == "Active"
    assert EN.subscription_status("paused_by_robot") == "paused by robot"
    assert EN.invoice_status("open") == "Due"
