"""The portal's translations: English, Spanish, Portuguese and French (see ``catalog``)."""

from __future__ import annotations

from portal_gateway.portal.i18n.catalog import Messages, message_names
from portal_gateway.portal.i18n.en import EN
from portal_gateway.portal.i18n.es import ES
from portal_gateway.portal.i18n.fr import FR
from portal_gateway.portal.i18n.pt import PT

CATALOGS: dict[str, Messages] = {"en": EN, "es": ES, "pt": PT, "fr": FR}


def messages_for(language: str) -> Messages:
    return CATALOGS.get(language, EN)


__all__ = ["CATALOGS", "Messages", "message_names", "messages_for"]
