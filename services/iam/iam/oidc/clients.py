"""The client registry: who may ask IAM for tokens, from which exact redirect URIs, for which scopes.

Clients are registered with `save` (the ops API, `flask --app iam oidc-client ensure`) or `ensure` (its
keyword form, demo data and tests); every change is checked here (`check_settings`) and audited. Secrets are
generated or given once and stored only as a hash; `rotate_secret` replaces one, and the previous secret keeps
working for a grace period so that a partner can deploy the new one without an outage.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin, list_to_scope, scope_to_list
from polis.db import Database
from sqlalchemy import select

from iam.audit import service as audit
from iam.audit.service import Origin
from iam.oidc.models import OidcClient
from iam.oidc.txn import write_transaction

# Identity scopes release claims (provider.User.claims); API scopes name a Polis service's API, whose
# resource server is the audience "urn:polis:<service>" (polis.auth maps scope + role to permissions).
IDENTITY_SCOPES = ("openid", "profile", "email", "fiscal_number")
# The APIs a person's client may act on for them; the notifier's API is for operations (service tokens).
USER_API_SCOPES = ("iam", "enablement", "istanze")
API_SCOPES = (*USER_API_SCOPES, "notifier")
SUPPORTED_SCOPES = IDENTITY_SCOPES + API_SCOPES
DEFAULT_SCOPES = ("openid", "profile", "email")
SUPPORTED_GRANTS = ("authorization_code", "refresh_token", "client_credentials")
DEFAULT_GRANTS = ("authorization_code", "refresh_token")
ID_TOKEN_ALGORITHMS = ("ES256", "RS256")
DEFAULT_ID_TOKEN_ALG = ID_TOKEN_ALGORITHMS[0]
AUDIENCE_PREFIX = "urn:polis:"

# Bounds of the lifetimes (seconds): an access token cannot be revoked at every resource server at once, so it
# stays short; a refresh token lives at least long enough for a coffee break; a family (one login) at most a
# quarter, after which the user signs in again.
ACCESS_TOKEN_TTL = (60, 3600)
REFRESH_TOKEN_TTL = (300, 30 * 24 * 3600)
REFRESH_FAMILY_TTL_MAX = 90 * 24 * 3600
DEFAULT_ACCESS_TOKEN_TTL = 900
DEFAULT_REFRESH_TOKEN_TTL = 8 * 3600
DEFAULT_REFRESH_FAMILY_TTL = 30 * 24 * 3600
# A rotated secret may keep working this long at most (time for the partner to deploy the new one).
MAX_GRACE_SECONDS = 30 * 24 * 3600
# Secrets that ops choose themselves must not be guessable; generated ones have 256 bits.
MIN_SECRET_LENGTH = 16
MAX_URIS = 20
MAX_URI_LENGTH = 2000
MAX_AUDIENCES = 10
MAX_SERVICE_ROLES = 10
# http is allowed only for these hosts (development, the demo partner app): anything else needs https.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1")
SYSTEM_ACTOR = "system"

_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_URN = re.compile(r"urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:[A-Za-z0-9()+,\-.:=@;$_!*'%/?]+", re.IGNORECASE)
_ROLE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


def audience_of(api_scope: str) -> str:
    return f"{AUDIENCE_PREFIX}{api_scope}"


class InvalidClientSettings(ValueError):
    """A setting the registry refuses; `field` names it (the ops API reports it under that field)."""

    def __init__(self, message: str, *, field: str = "_schema") -> None:
        super().__init__(message)
        self.field = field


class UnknownClient(LookupError):
    pass


class PublicClient(InvalidClientSettings):
    """The operation needs a confidential client (e.g. rotating a secret it does not have)."""


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


# --- settings and their rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientSettings:
    """Everything about a client but its secret (see `save` for that). `audiences=None`: those of its API
    scopes ("urn:polis:<api>")."""

    client_id: str
    name: str
    redirect_uris: Sequence[str] = ()
    post_logout_redirect_uris: Sequence[str] = ()
    grant_types: Sequence[str] = DEFAULT_GRANTS
    scopes: Sequence[str] = DEFAULT_SCOPES
    trusted: bool = True
    access_token_ttl: int = DEFAULT_ACCESS_TOKEN_TTL
    refresh_token_ttl: int = DEFAULT_REFRESH_TOKEN_TTL
    refresh_family_ttl: int = DEFAULT_REFRESH_FAMILY_TTL
    id_token_alg: str = DEFAULT_ID_TOKEN_ALG
    audiences: Sequence[str] | None = None
    service_roles: Sequence[str] = ()
    backchannel_logout_uri: str | None = None


def check_settings(settings: ClientSettings, *, confidential: bool) -> dict[str, Any]:
    """The row's columns for these settings, normalised (duplicates dropped); InvalidClientSettings names the
    first rule broken."""
    _check_client_id(settings.client_id)
    name = _check_name(settings.name)
    grants = _unique(settings.grant_types, "grant_types")
    scopes = _unique(settings.scopes, "scopes")
    _check_grants(grants, confidential=confidential)
    signs_in_users = "authorization_code" in grants
    _check_scopes(scopes, signs_in_users=signs_in_users)
    redirect_uris = [
        _check_uri(uri, "redirect_uris") for uri in _unique(settings.redirect_uris, "redirect_uris")
    ]
    logout_uris = [
        _check_uri(uri, "post_logout_redirect_uris")
        for uri in _unique(settings.post_logout_redirect_uris, "post_logout_redirect_uris")
    ]
    for field_name, uris in (("redirect_uris", redirect_uris), ("post_logout_redirect_uris", logout_uris)):
        if len(uris) > MAX_URIS:
            raise InvalidClientSettings(f"at most {MAX_URIS} {field_name}", field=field_name)
    backchannel = settings.backchannel_logout_uri or None
    if backchannel is not None:
        _check_uri(backchannel, "backchannel_logout_uri")
    if signs_in_users and not redirect_uris:
        raise InvalidClientSettings(
            "authorization_code needs at least one redirect URI", field="redirect_uris"
        )
    if not signs_in_users:
        for name_, value in (
            ("redirect_uris", redirect_uris),
            ("post_logout_redirect_uris", logout_uris),
            ("backchannel_logout_uri", backchannel),
        ):
            if value:
                raise InvalidClientSettings(
                    f"{name_} only serve clients that sign users in (grant authorization_code)", field=name_
                )
    api_scopes = [scope for scope in scopes if scope in API_SCOPES]
    audiences = (
        [audience_of(scope) for scope in api_scopes]
        if settings.audiences is None
        else _unique(settings.audiences, "audiences")
    )
    _check_audiences(audiences, api_scopes)
    roles = _unique(settings.service_roles, "service_roles")
    _check_roles(roles, grants)
    _check_lifetimes(settings)
    if settings.id_token_alg not in ID_TOKEN_ALGORITHMS:
        raise InvalidClientSettings(
            f"id_token_alg must be one of {', '.join(ID_TOKEN_ALGORITHMS)}", field="id_token_alg"
        )
    if not isinstance(settings.trusted, bool):
        raise InvalidClientSettings("trusted must be true or false", field="trusted")
    return {
        "name": name,
        "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": logout_uris,
        "grant_types": grants,
        "scopes": scopes,
        "trusted": settings.trusted,
        "access_token_ttl": settings.access_token_ttl,
        "refresh_token_ttl": settings.refresh_token_ttl,
        "refresh_family_ttl": settings.refresh_family_ttl,
        "id_token_alg": settings.id_token_alg,
        "audiences": audiences,
        "service_roles": roles,
        "backchannel_logout_uri": backchannel,
    }


def _unique(values: Iterable[str], field_name: str) -> list[str]:
    if isinstance(values, str):
        raise InvalidClientSettings(f"{field_name} must be a list of strings", field=field_name)
    result: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise InvalidClientSettings(f"{field_name} must be a list of strings", field=field_name)
        if value not in result:
            result.append(value)
    return result


def _check_client_id(client_id: str) -> None:
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        raise InvalidClientSettings("client id: 1-64 letters, digits, '-' or '_'", field="client_id")


def _check_name(name: str) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= 120 or re.search(r"[\x00-\x1f\x7f]", name):
        raise InvalidClientSettings("name: 1-120 characters, no control characters", field="name")
    return name


def _check_grants(grants: list[str], *, confidential: bool) -> None:
    if not grants:
        raise InvalidClientSettings("at least one grant type is required", field="grant_types")
    unknown = [grant for grant in grants if grant not in SUPPORTED_GRANTS]
    if unknown:
        raise InvalidClientSettings(
            f"unsupported grant types {', '.join(unknown)}: use {', '.join(SUPPORTED_GRANTS)}",
            field="grant_types",
        )
    if "client_credentials" in grants and not confidential:
        raise InvalidClientSettings(
            "a public client (no secret) cannot use client_credentials: it could not prove who it is",
            field="grant_types",
        )
    if "refresh_token" in grants and "authorization_code" not in grants:
        raise InvalidClientSettings(
            "refresh_token needs authorization_code (refresh tokens come only from a user's login)",
            field="grant_types",
        )


def _check_scopes(scopes: list[str], *, signs_in_users: bool) -> None:
    unknown = [scope for scope in scopes if scope not in SUPPORTED_SCOPES]
    if unknown or not scopes:
        raise InvalidClientSettings(
            f"unsupported scopes {', '.join(unknown) or '(none given)'}: use {', '.join(SUPPORTED_SCOPES)}",
            field="scopes",
        )
    if signs_in_users and "openid" not in scopes:
        raise InvalidClientSettings("a client that signs users in needs the scope openid", field="scopes")
    identity = [scope for scope in scopes if scope in IDENTITY_SCOPES]
    if not signs_in_users and identity:
        raise InvalidClientSettings(
            f"a client-credentials-only client acts for itself, not for a user: API scopes only "
            f"({', '.join(API_SCOPES)}), not {', '.join(identity)}",
            field="scopes",
        )


_URI_LABELS = {
    "redirect_uris": "redirect URI",
    "post_logout_redirect_uris": "post-logout redirect URI",
    "backchannel_logout_uri": "back-channel logout URI",
}


def _check_uri(uri: str, field_name: str) -> str:
    """An exact redirect target: absolute https (http only on localhost/127.0.0.1), no fragment, no
    wildcard, no user info: what the client gives at authorize is compared with it character by character."""
    problem = _uri_problem(uri)
    if problem is not None:
        label = _URI_LABELS.get(field_name, field_name)
        raise InvalidClientSettings(f"{label} {str(uri)[:200]!r} refused: {problem}", field=field_name)
    return uri


def _uri_problem(uri: str) -> str | None:
    if not isinstance(uri, str) or not uri:
        return "it is empty"
    if len(uri) > MAX_URI_LENGTH:
        return f"it is longer than {MAX_URI_LENGTH} characters"
    if _CONTROL_OR_SPACE.search(uri) or "\\" in uri:
        return "it contains spaces, control characters or backslashes"
    if "#" in uri:
        return "it has a fragment (#)"
    if "*" in uri:
        return "it has a wildcard (*): every URI is compared exactly"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "not an absolute http(s) URI (bad host or port)"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "not an absolute http(s) URI"
    if parts.username is not None or parts.password is not None:
        return "it has user info (user@host)"
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return f"http is allowed only on {' and '.join(LOOPBACK_HOSTS)}: use https"
    return None


def _check_audiences(audiences: list[str], api_scopes: list[str]) -> None:
    if len(audiences) > MAX_AUDIENCES:
        raise InvalidClientSettings(f"at most {MAX_AUDIENCES} audiences", field="audiences")
    for audience in audiences:
        if len(audience) > 200 or not _URN.fullmatch(audience):
            raise InvalidClientSettings(f"audience {audience[:200]!r} is not a URN", field="audiences")
        if audience.lower().startswith(AUDIENCE_PREFIX):
            api = audience[len(AUDIENCE_PREFIX) :]
            if audience != audience_of(api) or api not in api_scopes:
                raise InvalidClientSettings(
                    f"audience {audience} needs the API scope {api} (urn:polis:<api> matches an API scope of "
                    f"the client: {', '.join(api_scopes) or 'none'})",
                    field="audiences",
                )
    for scope in api_scopes:
        if audience_of(scope) not in audiences:
            raise InvalidClientSettings(
                f"the API scope {scope} needs the audience {audience_of(scope)} (its tokens are for it)",
                field="audiences",
            )


def _check_roles(roles: list[str], grants: list[str]) -> None:
    if roles and "client_credentials" not in grants:
        raise InvalidClientSettings(
            "service_roles only apply to client_credentials tokens (a service acting for itself)",
            field="service_roles",
        )
    if len(roles) > MAX_SERVICE_ROLES:
        raise InvalidClientSettings(f"at most {MAX_SERVICE_ROLES} service roles", field="service_roles")
    for role in roles:
        if not _ROLE.fullmatch(role) or role == "user":
            raise InvalidClientSettings(
                f"service role {role[:40]!r}: lower-case letters, digits and '_'; not 'user' (end users)",
                field="service_roles",
            )


def _check_lifetimes(settings: ClientSettings) -> None:
    bounds = (
        ("access_token_ttl", settings.access_token_ttl, *ACCESS_TOKEN_TTL),
        ("refresh_token_ttl", settings.refresh_token_ttl, *REFRESH_TOKEN_TTL),
        (
            "refresh_family_ttl",
            settings.refresh_family_ttl,
            settings.refresh_token_ttl,
            REFRESH_FAMILY_TTL_MAX,
        ),
    )
    for name, value, low, high in bounds:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidClientSettings(f"{name} must be whole seconds from {low} to {high}", field=name)


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
    with write_transaction(db) as session:
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
    with write_transaction(db) as session:
        row = (
            session.get(OidcClient, client_id, with_for_update=True)
            if _CLIENT_ID.fullmatch(client_id)
            else None
        )
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
