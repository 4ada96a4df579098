"""Pages in the account's preferred language (issue 13 item 7): at login and when the preference is saved,
the browser goes once through the gateway's language switch, which sets the `lang` cookie that every page
reads (polis.ui.i18n). A later choice in the header's language switch wins, until the next login."""

from __future__ import annotations

import uuid

from flask_babel import get_locale
from polis.ui import language_switch_url
from sqlalchemy import select

from iam.accounts.models import Account
from iam.extensions import db
from iam.personal_area.service import LANGUAGES


def account_language(account_id: uuid.UUID | None) -> str | None:
    if account_id is None:
        return None
    with db.transaction() as session:
        return session.scalar(select(Account.language).where(Account.id == account_id))


def in_language(language: str | None, target: str) -> str:
    """`target`, through the language switch when `language` is not the one the pages speak now."""
    if language not in LANGUAGES or language == str(get_locale() or "it"):
        return target
    return language_switch_url(str(language), target)
