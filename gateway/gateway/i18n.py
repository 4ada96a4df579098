"""Locale choice: the `lang` cookie set by the language switch, else Accept-Language, else Italian.

The rule is shared with every Polis app that renders pages (polis.ui.i18n), so that IAM's pages, reached
through the gateway, speak the language chosen here.
"""

from __future__ import annotations

from polis.ui.i18n import LANG_COOKIE, select_locale

__all__ = ["LANG_COOKIE", "select_locale"]
