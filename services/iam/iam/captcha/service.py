"""Verifying a captcha response once: the adapter's verdict, then a row that refuses its replay."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from iam.captcha.adapters import CaptchaAdapter
from iam.captcha.models import CaptchaSolution

MAX_RESPONSE_LENGTH = 4096


def verify(session: Session, *, adapter: CaptchaAdapter, response: str | None) -> bool:
    """True when `response` solves a live challenge not used before; recorded in the caller's transaction."""
    if not response or len(response) > MAX_RESPONSE_LENGTH:
        return False
    verdict = adapter.check(response)
    if not verdict.ok or verdict.expires_at is None:
        return False
    now = datetime.now(UTC)
    # Expired rows can go: an expired challenge is refused by the adapter anyway.
    session.execute(delete(CaptchaSolution).where(CaptchaSolution.expires_at < now))
    key_hash = hashlib.sha256(f"{adapter.kind}:{verdict.key}".encode()).hexdigest()
    try:
        with session.begin_nested():
            session.add(CaptchaSolution(key_hash=key_hash, used_at=now, expires_at=verdict.expires_at))
            session.flush()
    except IntegrityError:
        return False  # already used: a replay
    return True
