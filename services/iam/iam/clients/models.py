"""The table of the client registry (oidc_clients)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from iam.models import Base


class OidcClient(Base):
    """A registered relying party: the portal, the partner services, service-to-service callers."""

    __tablename__ = "oidc_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # A hash of the secret (iam.clients.service.hash_client_secret); null for a public client (PKCE only).
    secret_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # After a rotation the previous secret keeps working until previous_secret_expires_at (a grace period
    # for the partner to deploy the new one); secret_rotated_at says when the current one was set.
    previous_secret_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    secret_rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)  # compared exactly
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    trusted: Mapped[bool] = mapped_column(Boolean, default=True)  # first party: no consent screen
    # Lifetimes in seconds: an access token; one refresh token (each use rotates it); a refresh family,
    # counted from the login that started it (rotation never extends it).
    access_token_ttl: Mapped[int] = mapped_column(Integer, default=900)
    refresh_token_ttl: Mapped[int] = mapped_column(Integer, default=8 * 3600)
    refresh_family_ttl: Mapped[int] = mapped_column(Integer, default=30 * 24 * 3600)
    id_token_alg: Mapped[str] = mapped_column(String(16), default="ES256")  # ES256 or RS256
    # The resource servers (`aud` of the JWT access tokens), e.g. "urn:polis:istanze".
    audiences: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Roles carried by client-credentials tokens (a service acting for itself), e.g. ["ops"].
    service_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    # OpenID Connect Back-Channel Logout 1.0: where IAM posts a logout token when a session ends.
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
