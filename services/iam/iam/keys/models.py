"""The table of the token signing keys (oidc_signing_keys)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from iam.models import Base


class SigningKey(Base):
    """A token signing key (ES256 or RS256) through its life: published in the JWKS from created_at, signs
    from signs_from (later, so every verifier has seen it first), stops signing at retired_at (when its
    successor starts), and leaves the JWKS at published_until (once the last token it signed expired)."""

    __tablename__ = "oidc_signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    # The private JWK, encrypted with the key-encryption key (iam.keys.sealing seals and unseals it).
    private_jwk: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    signs_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    published_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
