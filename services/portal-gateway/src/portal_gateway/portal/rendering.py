"""Jinja2 rendering of the portal's pages, and the frame every page shares.

Autoescaping is on for every template and undefined names raise (``StrictUndefined``), so a
typo in a template or a missing translation fails a test instead of rendering an empty string.

Templates are package data, loaded once per process: no ``auto_reload`` (which stats each
template file at every render), so a changed template needs a restart, like changed code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import jinja2

from portal_gateway.application.ports import Merchant
from portal_gateway.portal.i18n import Messages, messages_for
from portal_gateway.portal.locales import LANGUAGE_NAMES, SUPPORTED_LANGUAGES, PortalLocale
from portal_gateway.portal.presenters import safe_image_url
from portal_gateway.portal.theme import normalize_color

PORTAL_PATH = "/portal"
STATIC_PATH = f"{PORTAL_PATH}/static"


@dataclass(frozen=True)
class LanguageOption:
    code: str
    name: str
    current: bool


@dataclass(frozen=True)
class Chrome:
    """The frame around every page: language, branding, and the signed-in controls."""

    t: Messages
    locale: PortalLocale
    css_href: str
    merchant_name: str | None = None
    logo_url: str | None = None
    theme_href: str | None = None
    support_email: str | None = None
    return_url: str | None = None
    signed_in: bool = False
    csrf_token: str | None = None
    current_path: str = PORTAL_PATH
    languages: tuple[LanguageOption, ...] = field(default=())

    @property
    def merchant_label(self) -> str:
        """The merchant's name, or a phrase that stands in for it in a sentence."""
        return self.merchant_name or self.t.merchant_fallback


def _stylesheet_version() -> str:
    css = resources.files("portal_gateway.portal").joinpath("static/portal.css").read_bytes()
    return hashlib.sha256(css).hexdigest()[:12]


class PageRenderer:
    def __init__(self) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("portal_gateway.portal", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        # A content hash in the URL lets browsers cache the stylesheet until it changes.
        self.css_href = f"{STATIC_PATH}/portal.css?v={_stylesheet_version()}"

    def chrome(
        self,
        locale: PortalLocale,
        *,
        merchant: Merchant | None = None,
        return_url: str | None = None,
        csrf_token: str | None = None,
        current_path: str = PORTAL_PATH,
    ) -> Chrome:
        brand = normalize_color(merchant.brand_color) if merchant else None
        signed_in = csrf_token is not None
        return Chrome(
            t=messages_for(locale.language),
            locale=locale,
            css_href=self.css_href,
            merchant_name=merchant.name if merchant else None,
            logo_url=safe_image_url(merchant.logo_url) if merchant else None,
            theme_href=f"{PORTAL_PATH}/theme.css?{urlencode({'brand': brand})}" if brand else None,
            support_email=merchant.support_email if merchant else None,
            return_url=return_url,
            signed_in=signed_in,
            csrf_token=csrf_token,
            current_path=current_path,
            languages=tuple(
                LanguageOption(code, LANGUAGE_NAMES[code], code == locale.language)
                for code in SUPPORTED_LANGUAGES
            )
            if signed_in
            else (),
        )

    def render(self, template: str, chrome: Chrome, **context: Any) -> str:
        # Jinja keeps the compiled template (its own cache; no reload check, see above).
        return self._env.get_template(template).render(chrome=chrome, t=chrome.t, **context)
