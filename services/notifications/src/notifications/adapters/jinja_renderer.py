"""Renders mail requests with the Jinja templates, translated with the gettext catalogs.

One Jinja environment per language, each with its catalog installed (``jinja2.ext.i18n``,
new-style gettext so that ``_()`` escapes its arguments in the HTML parts). Catalogs are read
from the ``.po`` files at start-up and compiled in memory: no build step, and a translator's
edit is picked up by restarting the service.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from markupsafe import Markup

from notifications.domain.locale import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES
from notifications.domain.mail import MailRequest
from notifications.domain.message import RenderedMail
from notifications.templates import DOMAIN, LOCALES_DIR, TEMPLATES_DIR


def load_catalog(language: str, locales_dir: Path = LOCALES_DIR) -> NullTranslations:
    """The translations of ``language``; English is the templates' own text."""
    if language == DEFAULT_LANGUAGE:
        return NullTranslations()
    po_path = locales_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out: they are not translations yet
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def make_environment(
    translations: NullTranslations, templates_dir: Path = TEMPLATES_DIR
) -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates_dir),
        # The templates ship with the package and do not change while the service runs: no
        # stat() of every template (and of what it extends) on every render.
        auto_reload=False,
        # .html parts are escaped; .txt parts (text body, subject) are plain text.
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    direct = _direct_gettext(translations.gettext)
    env.globals.update(gettext=direct, _=direct)
    return env


def _direct_gettext(translate: Callable[[str], str]) -> Callable[..., str]:
    """jinja2's new-style ``gettext`` (escaped arguments in HTML, always %-formatted) calling the
    catalog directly: jinja2's own goes through ``Context.call`` twice per sentence (once more
    for ``_``), a third of the render time of a mail."""

    @pass_context
    def gettext(context: Context, message: str, /, **variables: Any) -> str:
        translated = translate(message)
        if context.eval_ctx.autoescape:
            # The catalog's sentence is trusted markup (ours and the translators'); the
            # arguments % puts into it are escaped by Markup.
            translated = Markup(translated)  # noqa: S704
        return translated % variables

    return gettext


def template_names(templates_dir: Path = TEMPLATES_DIR) -> list[str]:
    return sorted(p.name for p in templates_dir.iterdir() if p.is_file())


def extract_messages(env: Environment, names: Iterable[str]) -> set[str]:
    """Every message id the templates ``names`` translate (for the catalog completeness test)."""
    found: set[str] = set()
    assert env.loader is not None
    for name in names:
        source, _, _ = env.loader.get_source(env, name)
        extracted = env.extract_translations(source)  # type: ignore[attr-defined]
        for _lineno, _function, message in extracted:
            if isinstance(message, str):
                found.add(message)
            else:
                found.update(m for m in message if m)
    return found


class JinjaMailRenderer:
    """Implements :class:`notifications.domain.message.MailRenderer`."""

    def __init__(
        self,
        languages: Iterable[str] = SUPPORTED_LANGUAGES,
        *,
        templates_dir: Path = TEMPLATES_DIR,
        locales_dir: Path = LOCALES_DIR,
    ) -> None:
        self._environments: Mapping[str, Environment] = {
            language: make_environment(load_catalog(language, locales_dir), templates_dir)
            for language in languages
        }

    def render(self, request: MailRequest) -> RenderedMail:
        # Jinja keeps each compiled template (and, auto_reload off, never stats it again).
        env = (
            self._environments.get(request.locale.language) or self._environments[DEFAULT_LANGUAGE]
        )
        name = request.kind.value
        context = self._context(request)
        subject = env.get_template(f"{name}.subject.txt").render(context).strip()
        text = env.get_template(f"{name}.txt").render(context)
        html = env.get_template(f"{name}.html").render({**context, "subject": subject})
        return RenderedMail(subject=subject, text=_tidy_text(text), html=html)

    @staticmethod
    def _context(request: MailRequest) -> dict[str, Any]:
        # Shallow on purpose: receipt lines stay objects the templates read attributes of.
        content = {
            f.name: getattr(request.content, f.name) for f in dataclasses.fields(request.content)
        }
        return {
            **content,
            "brand": request.brand,
            "language": request.locale.language,
        }


def _tidy_text(text: str) -> str:
    """At most one blank line in a row, and a single final newline: conditionals leave gaps."""
    lines: list[str] = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line and (not lines or not lines[-1]):
            continue
        lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"
