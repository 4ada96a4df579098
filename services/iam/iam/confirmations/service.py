"""Email confirmation use cases: request a link (record + outbox event in one transaction), confirm it."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from polis.db import Database
from polis.events import Event
from polis.events import outbox as events_outbox
from polis.events.sealing import Sealer
from sqlalchemy import update

from iam.confirmations.models import EmailConfirmation
from iam.errors import InvalidConfirmationToken
from iam.models import outbox

EVENT_REQUESTED = "iam.email_confirmation_requested"
CONFIRM_PATH = "/registrazione/conferma"


@dataclass(frozen=True)
class ConfirmationPolicy:
    """Where links point, how long they live, and whom the link is sealed for."""

    public_base_url: str
    ttl: timedelta
    sealer: Sealer

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ConfirmationPolicy:
        return cls(
            public_base_url=settings["PUBLIC_BASE_URL"],
            ttl=timedelta(hours=settings["EMAIL_CONFIRMATION_TTL_HOURS"]),
            sealer=Sealer(settings["NOTIFIER_SEALING_PUBLIC_KEY"], settings["NOTIFIER_SEALING_KEY_ID"]),
        )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_confirmation(
    *, db: Database, policy: ConfirmationPolicy, email: str, language: str
) -> EmailConfirmation:
    """Record a confirmation request and its event for the notifier, both or neither."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    confirmation = EmailConfirmation(
        id=uuid.uuid4(),
        email=email,
        language=language,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + policy.ttl,
    )
    link = f"{policy.public_base_url}{CONFIRM_PATH}?{urlencode({'token': token})}"
    event = Event.new(
        EVENT_REQUESTED,
        {
            "confirmation_id": str(confirmation.id),
            "email": email,
            "language": language,
            # Only the notifier can open it: the link is a credential until it is used.
            "confirmation_url": policy.sealer.seal(link),
            "expires_at": confirmation.expires_at.isoformat(),
        },
        producer="iam",
    )
    with db.transaction() as session:
        session.add(confirmation)
        events_outbox.record(session, event, outbox)
    return confirmation


def confirm(*, db: Database, token: str) -> EmailConfirmation:
    """Mark the confirmation of this token confirmed; a token works once and only before it expires."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        # One conditional UPDATE: two concurrent uses of the same token cannot both succeed.
        confirmed_id = session.execute(
            update(EmailConfirmation)
            .where(
                EmailConfirmation.token_hash == hash_token(token),
                EmailConfirmation.confirmed_at.is_(None),
                EmailConfirmation.expires_at > now,
            )
            .values(confirmed_at=now)
            .returning(EmailConfirmation.id)
        ).scalar_one_or_none()
        if confirmed_id is None:
            raise InvalidConfirmationToken()
        return session.get_one(EmailConfirmation, confirmed_id)
