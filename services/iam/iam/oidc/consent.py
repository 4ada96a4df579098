"""Consent: the scopes an account granted to a client that is not first party (issue 5, item 1).

A trusted client (a Ministry service) never asks. Any other asks at its first authorization, and again when
it asks for a scope beyond those granted; a grant widens the stored set, it never narrows it.

How authorize uses it (views.authorize, once the user is known and the request is valid):

    if consent.was_denied(request.args):
        -> answer access_denied to the client's redirect URI
    if consent.needs_consent(db, account_id, client, scope):
        -> prompt=none: answer consent_required; otherwise redirect(consent.consent_url(request.full_path))

The page (consent_views.py, GET/POST /oidc/consent?next=<the authorize URL>) records the grant and goes
back to `next`, or adds `consent=denied` to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from authlib.oauth2.rfc6749 import scope_to_list
from polis.db import Database
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from iam.audit import service as audit
from iam.audit.service import Origin
from iam.clients.service import Client
from iam.oidc.models import Consent

CONSENT_PATH = "/oidc/consent"
AUTHORIZE_PATH = "/oidc/authorize"
# The parameter the consent page adds to the authorize URL when the user says no.
DECISION_PARAMETER = "consent"
DENIED = "denied"


def requested_scopes(client: Client, scope: str | Iterable[str] | None) -> list[str]:
    """The scopes of a request that the client may have, in the request's order (others are not shown:
    authorize refuses or drops them)."""
    names = scope_to_list(scope) if isinstance(scope, str) or scope is None else list(scope)
    allowed = set(client.scopes)
    result: list[str] = []
    for name in names or []:
        if name in allowed and name not in result:
            result.append(name)
    return result


def granted_scopes(source: Session | Database, account_id: uuid.UUID | str, client_id: str) -> list[str]:
    """The scopes this account granted to this client so far ([] when never asked)."""
    with _session(source) as session:
        row = session.get(Consent, (_uuid(account_id), client_id))
        return list(row.scopes) if row is not None else []


def needs_consent(
    source: Session | Database, account_id: uuid.UUID | str, client: Client, scope: str | Iterable[str] | None
) -> bool:
    """Whether the user must be asked before the client gets these scopes: never for a trusted client; for
    the others, when a requested scope is not among those granted."""
    if client.trusted:
        return False
    wanted = requested_scopes(client, scope)
    if not wanted:
        return False
    granted = set(granted_scopes(source, account_id, client.client_id))
    return any(name not in granted for name in wanted)


def grant(
    source: Session | Database,
    *,
    account_id: uuid.UUID | str,
    client: Client,
    scopes: Iterable[str],
    origin: Origin | None = None,
) -> list[str]:
    """Record that the account grants these scopes (among the client's) to the client; returns every scope
    granted so far. Audited."""
    wanted = requested_scopes(client, list(scopes))
    account = _uuid(account_id)
    if isinstance(source, Session):
        return _grant(source, account, client.client_id, wanted, origin)
    try:
        with source.transaction() as session:
            return _grant(session, account, client.client_id, wanted, origin)
    except IntegrityError:
        # A double click on Consenti: the other request created the row first (PostgreSQL); widen it.
        with source.transaction() as session:
            return _grant(session, account, client.client_id, wanted, origin)


def _grant(
    session: Session, account: uuid.UUID, client_id: str, wanted: list[str], origin: Origin | None
) -> list[str]:
    now = datetime.now(UTC)
    row = session.get(Consent, (account, client_id), with_for_update=True)
    if row is None:
        row = Consent(account_id=account, client_id=client_id, scopes=wanted, granted_at=now)
        session.add(row)
        session.flush()  # a concurrent first grant fails here, inside the caller's retry
    else:
        row.scopes = [*row.scopes, *(name for name in wanted if name not in row.scopes)]
        row.granted_at = now
    audit.record(
        session,
        action="oidc_consent.granted",
        origin=origin or Origin(),
        account_id=account,
        details={"client_id": client_id, "scopes": wanted},
    )
    return list(row.scopes)


def record_denial(
    source: Session | Database,
    *,
    account_id: uuid.UUID | str,
    client: Client,
    scopes: Iterable[str],
    origin: Origin | None = None,
) -> None:
    """Audit that the account refused the client these scopes (nothing else changes: it may ask again)."""
    with _session(source, write=True) as session:
        audit.record(
            session,
            action="oidc_consent.denied",
            origin=origin or Origin(),
            account_id=_uuid(account_id),
            details={"client_id": client.client_id, "scopes": requested_scopes(client, list(scopes))},
        )


# --- the links between authorize and the consent page ----------------------------------------------------


def consent_url(authorize_path: str) -> str:
    """The consent page for this authorize request (a local path with its query, e.g. request.full_path)."""
    return f"{CONSENT_PATH}?{urlencode({'next': authorize_path.rstrip('?')})}"


def was_denied(arguments: Mapping[str, str]) -> bool:
    """Whether the authorize request comes back from the consent page with the user's refusal."""
    return arguments.get(DECISION_PARAMETER) == DENIED


def denied_url(authorize_path: str) -> str:
    """The authorize URL with the refusal added (any earlier decision parameter replaced)."""
    return _decision(authorize_path, DENIED)


def without_decision(authorize_path: str) -> str:
    """The authorize URL without a decision parameter (a stale refusal must not answer a new request)."""
    return _decision(authorize_path, None)


def _decision(authorize_path: str, value: str | None) -> str:
    parts = urlsplit(authorize_path)
    query = [
        (key, item)
        for key, item in parse_qsl(parts.query, keep_blank_values=True)
        if key != DECISION_PARAMETER
    ]
    if value is not None:
        query.append((DECISION_PARAMETER, value))
    return urlunsplit(("", "", parts.path, urlencode(query), ""))


# --- helpers ------------------------------------------------------------------------------------------


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


@contextmanager
def _session(source: Session | Database, *, write: bool = False) -> Iterator[Session]:
    """The caller's session as it is, or a transaction of our own on the database."""
    if isinstance(source, Session):
        yield source
        return
    if write:
        with source.transaction() as session:
            yield session
    else:
        with source.transaction() as session:
            yield session
