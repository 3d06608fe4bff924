"""Jinja templates of every mail (``mail/``) and their translations (``locales/``).

Templates are written in English with ``_()`` around every sentence; ``locales/<lang>/
LC_MESSAGES/messages.po`` holds each translation. A test extracts the messages from the
templates and fails when a catalog lacks one, so a new sentence cannot ship untranslated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

TEMPLATES_DIR: Final = Path(__file__).resolve().parent / "mail"
LOCALES_DIR: Final = Path(__file__).resolve().parent / "locales"
DOMAIN: Final = "messages"
