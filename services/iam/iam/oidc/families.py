"""A refresh family's end: every refresh token of it, and the access tokens issued from it, revoked."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from iam.oidc.models import AccessToken, RefreshToken


def end(session: Session, family_id: uuid.UUID, now: datetime) -> None:
    """End the family in the caller's transaction (a reused refresh token, a replayed code)."""
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.execute(
        update(AccessToken)
        .where(AccessToken.refresh_family_id == family_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
