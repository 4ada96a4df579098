"""The client registry's rules: supported scopes, grants and lifetimes, and `check_settings`, which every
change passes (iam.clients.service)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# Identity scopes release claims (iam.oidc.users.User.claims); API scopes name a Polis service's API, whose
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


def is_client_id(value: str) -> bool:
    """Whether a string has the shape of a client id (before asking the database for it)."""
    return _CLIENT_ID.fullmatch(value) is not None


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
