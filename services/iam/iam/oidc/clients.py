"""The client registry: who may ask IAM for tokens, from which exact redirect URIs, for which scopes."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, list_to_scope, scope_to_list
from polis.db import Database

from iam.oidc.models import OidcClient

SUPPORTED_SCOPES = ("openid", "profile", "email")
SUPPORTED_GRANTS = ("authorization_code",)


class InvalidClientSettings(ValueError):
    pass


def hash_client_secret(secret: str) -> str:
    """SHA-256, not argon2: client secrets are long random strings (no dictionary to guess from), and a
    slow hash at every token request would halve the login rate (P1)."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


def verify_client_secret(stored: str | None, secret: str) -> bool:
    return stored is not None and hmac.compare_digest(stored.encode(), hash_client_secret(secret).encode())


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
        )

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
        return verify_client_secret(self.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.secret_hash is None:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


# Clients are read several times per login (authorize twice, token once): a short in-process cache saves
# those queries; a change made with `ensure` takes effect everywhere within CACHE_SECONDS.
CACHE_SECONDS = 30.0
_cache: dict[str, tuple[float, Client | None]] = {}


def find(db: Database, client_id: str | None) -> Client | None:
    if not client_id or len(client_id) > 64:
        return None
    cached = _cache.get(client_id)
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    with db.transaction() as session:
        row = session.get(OidcClient, client_id)
        client = Client.of(row) if row is not None else None
    if client is not None:  # unknown ids are not cached: a flood of made-up ids cannot fill the memory
        _cache[client_id] = (time.monotonic(), client)
    return client


def forget_cached() -> None:
    _cache.clear()


def ensure(
    db: Database,
    *,
    client_id: str,
    name: str,
    secret: str | None,
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str],
    scopes: list[str] | None = None,
    grant_types: list[str] | None = None,
    trusted: bool = True,
) -> str:
    """Create the client or bring it to these settings (idempotent): "created", "updated" or "unchanged"."""
    scopes = list(scopes or SUPPORTED_SCOPES)
    grant_types = list(grant_types or SUPPORTED_GRANTS)
    _check(client_id, redirect_uris, post_logout_redirect_uris, scopes, grant_types)
    now = datetime.now(UTC)
    wanted: dict[str, Any] = {
        "name": name,
        "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": post_logout_redirect_uris,
        "grant_types": grant_types,
        "scopes": scopes,
        "trusted": trusted,
    }
    with db.transaction() as session:
        row = session.get(OidcClient, client_id)
        if row is None:
            secret_hash = hash_client_secret(secret) if secret else None
            session.add(
                OidcClient(
                    client_id=client_id, secret_hash=secret_hash, created_at=now, updated_at=now, **wanted
                )
            )
            outcome = "created"
        else:
            changed = any(getattr(row, key) != value for key, value in wanted.items())
            for key, value in wanted.items():
                setattr(row, key, value)
            same_secret = (
                row.secret_hash is None if not secret else verify_client_secret(row.secret_hash, secret)
            )
            if not same_secret:
                row.secret_hash = hash_client_secret(secret) if secret else None
                changed = True
            if changed:
                row.updated_at = now
            outcome = "updated" if changed else "unchanged"
    _cache.pop(client_id, None)
    return outcome


def _check(
    client_id: str, redirect_uris: list[str], logout_uris: list[str], scopes: list[str], grants: list[str]
) -> None:
    if not client_id or len(client_id) > 64 or not client_id.replace("-", "").replace("_", "").isalnum():
        raise InvalidClientSettings("client id: 1-64 letters, digits, '-' or '_'")
    if not redirect_uris:
        raise InvalidClientSettings("at least one redirect URI is required")
    for uri in [*redirect_uris, *logout_uris]:
        if not uri.startswith(("https://", "http://")) or "#" in uri:
            raise InvalidClientSettings(f"not an absolute http(s) URI without fragment: {uri!r}")
    unknown = set(scopes) - set(SUPPORTED_SCOPES)
    if unknown or "openid" not in scopes:
        raise InvalidClientSettings(f"scopes must include openid and be among {', '.join(SUPPORTED_SCOPES)}")
    if set(grants) - set(SUPPORTED_GRANTS):
        raise InvalidClientSettings(f"grant types must be among {', '.join(SUPPORTED_GRANTS)}")
