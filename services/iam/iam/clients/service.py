"""The client registry: who may ask IAM for tokens, from which exact redirect URIs, for which scopes.

Clients are registered with `save` (the ops API, `flask --app iam oidc-client ensure`) or `ensure` (its
keyword form, demo data and tests); every change is checked here (`check_settings`) and audited. Secrets are
generated or given once and stored only as a hash; `rotate_secret` replaces one, and the previous secret keeps
working for a grace period so that a partner can deploy the new one without an outage.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, list_to_scope, scope_to_list
from polis.db import Database
from sqlalchemy import select

from iam.audit import service as audit
from iam.audit.service import Origin
from iam.clients.models import OidcClient
from iam.clients.rules import ACCESS_TOKEN_TTL as ACCESS_TOKEN_TTL
from iam.clients.rules import API_SCOPES as API_SCOPES
from iam.clients.rules import AUDIENCE_PREFIX as AUDIENCE_PREFIX
from iam.clients.rules import DEFAULT_ACCESS_TOKEN_TTL as DEFAULT_ACCESS_TOKEN_TTL
from iam.clients.rules import DEFAULT_GRANTS as DEFAULT_GRANTS
from iam.clients.rules import DEFAULT_ID_TOKEN_ALG as DEFAULT_ID_TOKEN_ALG
from iam.clients.rules import DEFAULT_REFRESH_FAMILY_TTL as DEFAULT_REFRESH_FAMILY_TTL
from iam.clients.rules import DEFAULT_REFRESH_TOKEN_TTL as DEFAULT_REFRESH_TOKEN_TTL
from iam.clients.rules import DEFAULT_SCOPES as DEFAULT_SCOPES
from iam.clients.rules import ID_TOKEN_ALGORITHMS as ID_TOKEN_ALGORITHMS
from iam.clients.rules import IDENTITY_SCOPES as IDENTITY_SCOPES
from iam.clients.rules import LOOPBACK_HOSTS as LOOPBACK_HOSTS
from iam.clients.rules import MAX_AUDIENCES as MAX_AUDIENCES
from iam.clients.rules import MAX_GRACE_SECONDS as MAX_GRACE_SECONDS
from iam.clients.rules import MAX_SERVICE_ROLES as MAX_SERVICE_ROLES
from iam.clients.rules import MAX_URI_LENGTH as MAX_URI_LENGTH
from iam.clients.rules import MAX_URIS as MAX_URIS
from iam.clients.rules import MIN_SECRET_LENGTH as MIN_SECRET_LENGTH
from iam.clients.rules import REFRESH_FAMILY_TTL_MAX as REFRESH_FAMILY_TTL_MAX
from iam.clients.rules import REFRESH_TOKEN_TTL as REFRESH_TOKEN_TTL
from iam.clients.rules import SUPPORTED_GRANTS as SUPPORTED_GRANTS
from iam.clients.rules import SUPPORTED_SCOPES as SUPPORTED_SCOPES
from iam.clients.rules import SYSTEM_ACTOR as SYSTEM_ACTOR
from iam.clients.rules import USER_API_SCOPES as USER_API_SCOPES
from iam.clients.rules import ClientSettings as ClientSettings
from iam.clients.rules import InvalidClientSettings as InvalidClientSettings
from iam.clients.rules import PublicClient as PublicClient
from iam.clients.rules import UnknownClient as UnknownClient
from iam.clients.rules import audience_of as audience_of
from iam.clients.rules import check_settings as check_settings
from iam.clients.rules import is_client_id


def hash_client_secret(secret: str) -> str:
    """SHA-256, not argon2: client secrets are long random strings (no dictionary to guess from), and a
    slow hash at every token request would halve the login rate (P1)."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


def verify_client_secret(stored: str | None, secret: str) -> bool:
    # Both sides are hashes of equal length: compare_digest takes the same time wherever they differ.
    return stored is not None and hmac.compare_digest(stored.encode(), hash_client_secret(secret).encode())


def new_secret() -> str:
    """A fresh client secret (256 bits, URL-safe): shown once, never stored in clear."""
    return secrets.token_urlsafe(32)


def _utc(moment: datetime | None) -> datetime | None:
    # SQLite gives back naive datetimes: they were stored in UTC.
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@dataclass
class Client(ClientMixin):
    """Authlib's view of a registry row (a plain copy: usable after the transaction closed)."""

    client_id: str
    name: str
    secret_hash: str | None
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    grant_types: list[str]
    scopes: list[str]
    trusted: bool
    access_token_ttl: int = DEFAULT_ACCESS_TOKEN_TTL
    refresh_token_ttl: int = DEFAULT_REFRESH_TOKEN_TTL
    refresh_family_ttl: int = DEFAULT_REFRESH_FAMILY_TTL
    id_token_alg: str = DEFAULT_ID_TOKEN_ALG
    audiences: list[str] = field(default_factory=list)
    service_roles: list[str] = field(default_factory=list)
    backchannel_logout_uri: str | None = None
    previous_secret_hash: str | None = None
    previous_secret_expires_at: datetime | None = None
    secret_rotated_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # Set by `find` on cached copies: reads the row again when a secret does not match the cached hashes,
    # so a secret rotated by another process works here at once (not only when the cache entry expires).
    reload: Callable[[], Client | None] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, row: OidcClient) -> Client:
        return cls(
            client_id=row.client_id,
            name=row.name,
            secret_hash=row.secret_hash,
            redirect_uris=list(row.redirect_uris),
            post_logout_redirect_uris=list(row.post_logout_redirect_uris),
            grant_types=list(row.grant_types),
            scopes=list(row.scopes),
            trusted=row.trusted,
            access_token_ttl=row.access_token_ttl,
            refresh_token_ttl=row.refresh_token_ttl,
            refresh_family_ttl=row.refresh_family_ttl,
            id_token_alg=row.id_token_alg,
            audiences=list(row.audiences),
            service_roles=list(row.service_roles),
            backchannel_logout_uri=row.backchannel_logout_uri,
            previous_secret_hash=row.previous_secret_hash,
            previous_secret_expires_at=_utc(row.previous_secret_expires_at),
            secret_rotated_at=_utc(row.secret_rotated_at),
            created_at=_utc(row.created_at),
            updated_at=_utc(row.updated_at),
        )

    @property
    def is_public(self) -> bool:
        return self.secret_hash is None

    @property
    def confidential(self) -> bool:
        return self.secret_hash is not None

    @property
    def client_metadata(self) -> dict[str, Any]:
        return {}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # OAuth allows omitting redirect_uri with one registered; OIDC requires it: we always do.
        return None

    def get_allowed_scope(self, scope: str) -> str:
        if not scope:
            return ""
        allowed = set(self.scopes)
        return list_to_scope([s for s in scope_to_list(scope) if s in allowed])

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact match, never a prefix

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_matches(client_secret):
            return True
        fresh = self.reload() if self.reload is not None else None
        return fresh is not None and fresh.secret_matches(client_secret)

    def secret_matches(self, client_secret: str, *, now: datetime | None = None) -> bool:
        """The current secret, or the previous one until its grace period ends (rotate_secret)."""
        current = verify_client_secret(self.secret_hash, client_secret)
        previous = verify_client_secret(self.previous_secret_hash, client_secret)
        expires_at = _utc(self.previous_secret_expires_at)
        in_grace = expires_at is not None and (now or datetime.now(UTC)) < expires_at
        return current or (previous and in_grace)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.secret_hash is None:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


# --- reading: a short per-process cache ----------------------------------------------------------------

# Clients are read several times per login (authorize twice, token once): a per-process cache saves those
# queries. A change made through this module drops the entry of the process that made it at once; the other
# processes (gunicorn workers, other hosts) see it within CACHE_SECONDS. One exception needs no wait: a
# secret that does not match a cached copy is checked against the row again (Client.reload), so a new secret
# works everywhere at once, while an old one may still be accepted elsewhere for up to CACHE_SECONDS.
CACHE_SECONDS = 30.0
_cache: dict[str, tuple[float, Client | None]] = {}


def find(db: Database, client_id: str | None) -> Client | None:
    """The client with this id (cached, see CACHE_SECONDS), or None."""
    if not client_id or len(client_id) > 64:
        return None
    cached = _cache.get(client_id)
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    return _load(db, client_id)


def _load(db: Database, client_id: str) -> Client | None:
    client = get(db, client_id)
    if client is None:  # unknown ids are not cached: a flood of made-up ids cannot fill the memory
        _cache.pop(client_id, None)
        return None
    client.reload = lambda: _load(db, client_id)
    _cache[client_id] = (time.monotonic(), client)
    return client


def forget_cached() -> None:
    _cache.clear()


def get(db: Database, client_id: str) -> Client | None:
    """The client as stored now (no cache): the ops API's view."""
    with db.transaction() as session:
        row = session.get(OidcClient, client_id)
        return Client.of(row) if row is not None else None


def list_clients(db: Database) -> list[Client]:
    """Every registered client, by id."""
    with db.transaction() as session:
        rows = session.scalars(select(OidcClient).order_by(OidcClient.client_id))
        return [Client.of(row) for row in rows]


# --- changes ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Saved:
    """What `save` did: outcome "created", "updated" or "unchanged"; `secret` is set only when IAM generated
    one now (a new confidential client): show it once, it is not stored in clear anywhere."""

    outcome: str
    client: Client
    secret: str | None = None
    changed: tuple[str, ...] = ()


def save(
    db: Database,
    settings: ClientSettings,
    *,
    confidential: bool = True,
    secret: str | None = None,
    actor: str = SYSTEM_ACTOR,
    origin: Origin | None = None,
) -> Saved:
    """Create the client or bring it to these settings (idempotent), audited.

    Secret: a public client has none (PKCE only). A confidential one keeps its current secret unless
    `secret` gives another (which replaces it at once, ending any grace period); when it has none yet
    (new, or public until now), IAM generates one and returns it in `Saved.secret`."""
    if secret is not None and not confidential:
        raise InvalidClientSettings("a public client has no secret", field="secret")
    if secret is not None and len(secret) < MIN_SECRET_LENGTH:
        raise InvalidClientSettings(
            f"a client secret has at least {MIN_SECRET_LENGTH} characters", field="secret"
        )
    wanted = check_settings(settings, confidential=confidential)
    now = datetime.now(UTC)
    generated = None
    with db.transaction() as session:
        row = session.get(OidcClient, settings.client_id, with_for_update=True)
        if row is None:
            if confidential and secret is None:
                secret = generated = new_secret()
            row = OidcClient(
                client_id=settings.client_id,
                secret_hash=hash_client_secret(secret) if secret else None,
                secret_rotated_at=now if secret else None,
                created_at=now,
                updated_at=now,
                **wanted,
            )
            session.add(row)
            outcome, changed = "created", sorted(wanted)
        else:
            changed = sorted(key for key, value in wanted.items() if getattr(row, key) != value)
            for key, value in wanted.items():
                setattr(row, key, value)
            if not confidential and row.secret_hash is not None:
                _set_secret(row, None, now)
                changed.append("secret")
            elif confidential and secret is not None and not verify_client_secret(row.secret_hash, secret):
                _set_secret(row, secret, now)
                changed.append("secret")
            elif confidential and row.secret_hash is None:
                secret = generated = new_secret()
                _set_secret(row, secret, now)
                changed.append("secret")
            outcome = "updated" if changed else "unchanged"
            if changed:
                row.updated_at = now
        if changed:
            audit.record(
                session,
                action=f"oidc_client.{outcome}",
                origin=origin or Origin(),
                actor=actor,
                details={"client_id": settings.client_id, "changed": changed, "confidential": confidential},
            )
        session.flush()
        client = Client.of(row)
    _cache.pop(settings.client_id, None)
    return Saved(outcome=outcome, client=client, secret=generated, changed=tuple(changed))


def _set_secret(row: OidcClient, secret: str | None, now: datetime) -> None:
    # Setting a secret outright (not rotate_secret) ends the previous one at once.
    row.secret_hash = hash_client_secret(secret) if secret else None
    row.previous_secret_hash = None
    row.previous_secret_expires_at = None
    row.secret_rotated_at = now if secret else None


def ensure(
    db: Database,
    *,
    client_id: str,
    name: str,
    secret: str | None,
    redirect_uris: Sequence[str] = (),
    post_logout_redirect_uris: Sequence[str] = (),
    scopes: Sequence[str] | None = None,
    grant_types: Sequence[str] | None = None,
    trusted: bool = True,
    access_token_ttl: int = DEFAULT_ACCESS_TOKEN_TTL,
    refresh_token_ttl: int = DEFAULT_REFRESH_TOKEN_TTL,
    refresh_family_ttl: int = DEFAULT_REFRESH_FAMILY_TTL,
    id_token_alg: str = DEFAULT_ID_TOKEN_ALG,
    audiences: Sequence[str] | None = None,
    service_roles: Sequence[str] = (),
    backchannel_logout_uri: str | None = None,
    actor: str = SYSTEM_ACTOR,
    origin: Origin | None = None,
) -> str:
    """Create the client or bring it to exactly these settings, with this secret (None: a public client):
    "created", "updated" or "unchanged"."""
    settings = ClientSettings(
        client_id=client_id,
        name=name,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout_redirect_uris,
        grant_types=grant_types or DEFAULT_GRANTS,
        scopes=scopes or DEFAULT_SCOPES,
        trusted=trusted,
        access_token_ttl=access_token_ttl,
        refresh_token_ttl=refresh_token_ttl,
        refresh_family_ttl=refresh_family_ttl,
        id_token_alg=id_token_alg,
        audiences=audiences,
        service_roles=service_roles,
        backchannel_logout_uri=backchannel_logout_uri,
    )
    saved = save(db, settings, confidential=secret is not None, secret=secret, actor=actor, origin=origin)
    return saved.outcome


def rotate_secret(
    db: Database,
    client_id: str,
    grace_seconds: int = 0,
    *,
    actor: str = SYSTEM_ACTOR,
    origin: Origin | None = None,
    now: datetime | None = None,
) -> str:
    """A new secret for a confidential client, returned once and stored hashed. The old one keeps working
    for grace_seconds (0: not at all); a secret still in its grace period from an earlier rotation ends."""
    if isinstance(grace_seconds, bool) or not isinstance(grace_seconds, int):
        raise InvalidClientSettings("grace_seconds must be whole seconds", field="grace_seconds")
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise InvalidClientSettings(
            f"grace_seconds must be from 0 to {MAX_GRACE_SECONDS}", field="grace_seconds"
        )
    now = now or datetime.now(UTC)
    secret = new_secret()
    with db.transaction() as session:
        row = session.get(OidcClient, client_id, with_for_update=True) if is_client_id(client_id) else None
        if row is None:
            raise UnknownClient(client_id)
        if row.secret_hash is None:
            raise PublicClient(f"client {client_id} is public: it has no secret to rotate", field="client_id")
        row.previous_secret_hash = row.secret_hash
        row.previous_secret_expires_at = now + timedelta(seconds=grace_seconds)
        row.secret_hash = hash_client_secret(secret)
        row.secret_rotated_at = now
        row.updated_at = now
        audit.record(
            session,
            action="oidc_client.secret_rotated",
            origin=origin or Origin(),
            actor=actor,
            details={"client_id": client_id, "grace_seconds": grace_seconds},
        )
    _cache.pop(client_id, None)
    return secret
