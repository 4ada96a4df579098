"""OpenID Connect Back-Channel Logout 1.0: the outbox of logout tokens owed to clients, and its delivery.

When an SSO session ends (logout, or every session of an account at a password change, reset, disable or
revocation; issue 5 item 4), `schedule` writes one `oidc_logout_deliveries` row per client of that session
with a `backchannel_logout_uri`, in the transaction that ended it: the end and the promise to tell the
clients commit together, so a crash never forgets a logout. IAM's worker then delivers them
(`deliver_due`): a logout token signed like the client's ID tokens (header typ `logout+jwt`), POSTed as
`logout_token=...` with short timeouts and no redirect followed; 200 or 204 is delivered, anything else is
retried with growing delays and abandoned, with a warning, after `max_attempts`.

`next_attempt_at` says when the worker next acts on a row: a pending row is attempted then (a claim moves
it forward by a lease, so a crashed worker's rows come back by themselves); a finished row (delivered or
abandoned) is purged then, after the retention. Every query of the worker is therefore a range on that
one index, however many finished rows are kept for inspection.

Several workers may run on PostgreSQL (claims lock with SKIP LOCKED, and the outcome of an attempt is
recorded only if the row is still under that claim); on SQLite one worker (claims take the write lock at
BEGIN). A delivery is at least once: a worker that dies after the client answered sends it again after
the lease. That is harmless: a logout of a session that is already gone changes nothing for the client.
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from typing import Any
from urllib.parse import urlencode, urlsplit

from polis.db import Database
from polis.worker import Loop
from prometheus_client import Counter
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from iam.clients.models import OidcClient
from iam.keys import service as keys
from iam.oidc.models import LogoutDelivery, SessionClient

log = logging.getLogger("iam.oidc.backchannel")

EVENT = "http://schemas.openid.net/event/backchannel-logout"
TYP = "logout+jwt"
TOKEN_TTL = 120  # seconds: the token is used at once, by the client that receives it
DELIVERED_STATUSES = (200, 204)
MAX_ERROR = 300  # the last_error column
MAX_RESPONSE_READ = 4096  # bytes of the client's answer read before closing: only the status matters
USER_AGENT = "Polis-IAM back-channel logout"

OUTCOMES = Counter(
    "iam_backchannel_logouts", "Back-channel logout attempts by outcome", ["outcome"]
)  # delivered, retried, abandoned

Post = Callable[..., int]


def post_logout_token(url: str, token: str, *, connect_timeout: float, read_timeout: float) -> int:
    """POST `logout_token=<token>` (form-encoded) to the client; its status code. A redirect is a status
    like any other: never followed (the token goes only to the URI the client registered)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the back-channel logout URI is not an absolute http(s) URI")
    connection_class = HTTPSConnection if parts.scheme == "https" else HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=connect_timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.connect()  # TCP (and TLS) within the connect timeout
        if connection.sock is not None:
            connection.sock.settimeout(read_timeout)
        connection.request(
            "POST",
            target,
            body=urlencode({"logout_token": token}).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT},
        )
        response = connection.getresponse()
        response.read(MAX_RESPONSE_READ)
        return response.status
    finally:
        connection.close()


@dataclass(frozen=True)
class DeliveryPolicy:
    """How the worker delivers: the issuer, retry delays and bound, timeouts, batch and concurrency."""

    issuer: str
    max_attempts: int = 8
    retry_delays: tuple[float, ...] = (10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
    connect_timeout: float = 3.0
    read_timeout: float = 5.0
    batch_size: int = 32
    concurrency: int = 8
    retention: timedelta = timedelta(days=7)
    poll_seconds: float = 1.0
    post: Post = field(default=post_logout_token, compare=False)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> DeliveryPolicy:
        return cls(
            issuer=str(settings["OIDC_ISSUER"]),
            max_attempts=int(settings["BACKCHANNEL_LOGOUT_MAX_ATTEMPTS"]),
            retry_delays=tuple(settings["BACKCHANNEL_LOGOUT_RETRY_DELAYS"]),
            connect_timeout=float(settings["BACKCHANNEL_LOGOUT_CONNECT_TIMEOUT"]),
            read_timeout=float(settings["BACKCHANNEL_LOGOUT_READ_TIMEOUT"]),
            concurrency=int(settings["BACKCHANNEL_LOGOUT_CONCURRENCY"]),
            retention=timedelta(hours=float(settings["BACKCHANNEL_LOGOUT_RETENTION_HOURS"])),
        )

    def delay_after(self, attempts: int) -> timedelta:
        """The wait before the next attempt after `attempts` failed ones (the last delay repeats)."""
        return timedelta(seconds=self.retry_delays[min(max(attempts, 1), len(self.retry_delays)) - 1])

    @property
    def lease(self) -> timedelta:
        """Long enough for a whole batch to time out, in rounds of `concurrency` calls, and sign."""
        rounds = math.ceil(self.batch_size / max(self.concurrency, 1))
        return timedelta(seconds=rounds * (self.connect_timeout + self.read_timeout + 1.0) + 30.0)


# --- scheduling (inside the transaction that ends the sessions) ------------------------------------------


def schedule(
    session: Session, *, account_id: uuid.UUID, sso_session_ids: Sequence[uuid.UUID], now: datetime
) -> int:
    """Owe a logout token to every client with a back-channel URI that got tokens in these sessions."""
    if not sso_session_ids:
        return 0
    owed = session.execute(
        select(SessionClient.sso_session_id, SessionClient.client_id)
        .join(OidcClient, OidcClient.client_id == SessionClient.client_id)
        .where(
            SessionClient.sso_session_id.in_(list(sso_session_ids)),
            OidcClient.backchannel_logout_uri.is_not(None),
            OidcClient.backchannel_logout_uri != "",
        )
        .order_by(SessionClient.sso_session_id, SessionClient.client_id)
    ).all()
    if owed:
        session.execute(
            insert(LogoutDelivery),
            [
                {
                    "id": uuid.uuid4(),
                    "client_id": client_id,
                    "sso_session_id": sso_session_id,
                    "account_id": account_id,
                    "created_at": now,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                for sso_session_id, client_id in owed
            ],
        )
    return len(owed)


# --- delivery (IAM's worker) -----------------------------------------------------------------------------


def logout_claims(
    *, issuer: str, client_id: str, account_id: uuid.UUID, sso_session_id: uuid.UUID | None, now: datetime
) -> dict[str, Any]:
    """The claims of a logout token (Back-Channel Logout 1.0, 2.4): never a nonce; a fresh jti each time."""
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": client_id,
        "iat": issued,
        "exp": issued + TOKEN_TTL,
        "jti": uuid.uuid4().hex,
        "sub": str(account_id),
        "events": {EVENT: {}},
    }
    if sso_session_id is not None:
        claims["sid"] = str(sso_session_id)
    return claims


@dataclass(frozen=True)
class Claimed:
    """A delivery under this worker's claim: `attempts` counts this one (the claim's identity)."""

    id: uuid.UUID
    client_id: str
    account_id: uuid.UUID
    sso_session_id: uuid.UUID | None
    attempts: int
    uri: str | None
    alg: str


@dataclass
class PassReport:
    """What one delivery pass did."""

    delivered: int = 0
    retried: int = 0
    abandoned: int = 0
    purged: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.retried + self.abandoned


def claim_due(session: Session, *, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
    """Take up to `limit` due deliveries: count the attempt and move them `lease` forward (inside the
    caller's transaction; on PostgreSQL rows locked by another worker's claim are skipped)."""
    rows = session.execute(
        select(LogoutDelivery, OidcClient.backchannel_logout_uri, OidcClient.id_token_alg)
        .join(OidcClient, OidcClient.client_id == LogoutDelivery.client_id)
        .where(
            LogoutDelivery.next_attempt_at <= now,
            LogoutDelivery.delivered_at.is_(None),
            LogoutDelivery.abandoned_at.is_(None),
        )
        .order_by(LogoutDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=LogoutDelivery)  # SQLite: no clause (BEGIN IMMEDIATE)
    ).all()
    claimed = []
    for delivery, uri, alg in rows:
        delivery.attempts += 1
        delivery.next_attempt_at = now + lease
        claimed.append(
            Claimed(
                id=delivery.id,
                client_id=delivery.client_id,
                account_id=delivery.account_id,
                sso_session_id=delivery.sso_session_id,
                attempts=delivery.attempts,
                uri=uri or None,
                alg=alg,
            )
        )
    return claimed


def attempt(db: Database, policy: DeliveryPolicy, item: Claimed, now: datetime) -> str | None:
    """Sign and POST one logout token; None when the client took it, else why not (never the token)."""
    if item.uri is None:
        return "the client no longer has a back-channel logout URI"
    claims = logout_claims(
        issuer=policy.issuer,
        client_id=item.client_id,
        account_id=item.account_id,
        sso_session_id=item.sso_session_id,
        now=now,
    )
    try:
        token = keys.sign(db, claims, alg=item.alg, typ=TYP)
        status = policy.post(
            item.uri, token, connect_timeout=policy.connect_timeout, read_timeout=policy.read_timeout
        )
    except (OSError, HTTPException, ValueError) as error:  # refused, timed out, TLS, malformed answer
        return f"{type(error).__name__}: {error}"[:MAX_ERROR]
    except Exception as error:  # e.g. no signing key for the client's algorithm: retried, then abandoned
        log.exception("back-channel logout token not built", extra={"delivery_id": str(item.id)})
        return f"{type(error).__name__}"[:MAX_ERROR]
    return None if status in DELIVERED_STATUSES else f"HTTP {status}"


def deliver_due(*, db: Database, policy: DeliveryPolicy, now: datetime | None = None) -> PassReport:
    """One pass of the worker: purge finished rows past their retention, claim the due deliveries, attempt
    them (up to `concurrency` at once) and record each outcome."""
    now = now or datetime.now(UTC)
    report = PassReport()
    with db.transaction() as session:  # a read first: an idle worker never takes SQLite's write lock
        if session.execute(_acted_on_by(now).limit(1)).first() is None:
            return report
    with db.transaction() as session:
        report.purged = _purge(session, now=now)
        claimed = claim_due(session, now=now, limit=policy.batch_size, lease=policy.lease)
    if not claimed:
        return report
    if len(claimed) == 1 or policy.concurrency <= 1:
        errors = [attempt(db, policy, item, now) for item in claimed]
    else:
        with ThreadPoolExecutor(max_workers=min(policy.concurrency, len(claimed))) as pool:
            errors = list(pool.map(lambda item: attempt(db, policy, item, now), claimed))
    with db.transaction() as session:
        for item, error in zip(claimed, errors, strict=True):
            _record(session, policy, item, error, now, report)
    return report


def _acted_on_by(now: datetime) -> Any:
    return select(LogoutDelivery.id).where(LogoutDelivery.next_attempt_at <= now)


def _purge(session: Session, *, now: datetime) -> int:
    finished = _acted_on_by(now).where(
        LogoutDelivery.delivered_at.is_not(None) | LogoutDelivery.abandoned_at.is_not(None)
    )
    ids = list(session.scalars(finished.limit(1000)))
    if ids:
        session.execute(delete(LogoutDelivery).where(LogoutDelivery.id.in_(ids)))
    return len(ids)


def _record(
    session: Session,
    policy: DeliveryPolicy,
    item: Claimed,
    error: str | None,
    now: datetime,
    report: PassReport,
) -> None:
    still_ours = (
        LogoutDelivery.id == item.id,
        LogoutDelivery.attempts == item.attempts,  # a later claim (after our lease ran out) counted one more
        LogoutDelivery.delivered_at.is_(None),
        LogoutDelivery.abandoned_at.is_(None),
    )
    fields = {"delivery_id": str(item.id), "client_id": item.client_id, "attempts": item.attempts}
    if error is None:
        values: dict[str, Any] = {"delivered_at": now, "next_attempt_at": now + policy.retention}
        outcome, level, message = "delivered", logging.INFO, "back-channel logout delivered"
    elif item.attempts >= policy.max_attempts:
        values = {"abandoned_at": now, "last_error": error, "next_attempt_at": now + policy.retention}
        outcome, level, message = "abandoned", logging.WARNING, "back-channel logout abandoned"
        fields["error"] = error
    else:
        values = {"last_error": error, "next_attempt_at": now + policy.delay_after(item.attempts)}
        outcome, level, message = "retried", logging.INFO, "back-channel logout failed, will retry"
        fields["error"] = error
    result = session.execute(update(LogoutDelivery).where(*still_ours).values(**values))
    if not result.rowcount:  # type: ignore[attr-defined]
        log.info("back-channel logout outcome dropped: claimed again meanwhile", extra=fields)
        return
    log.log(level, message, extra=fields)
    setattr(report, outcome, getattr(report, outcome) + 1)
    OUTCOMES.labels(outcome=outcome).inc()


def delivery_loop(*, db: Database, settings: Mapping[str, Any]) -> Loop:
    """The worker loop: a pass, then a pause unless the pass found a full batch (more may be waiting)."""
    policy = DeliveryPolicy.from_settings(settings)
    keys.configure(keys.KeySettings.from_config(settings))  # this process signs without a Flask app

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                report = deliver_due(db=db, policy=policy)
            except OperationalError:  # the database is away: wait and try again, like the relay
                log.warning("back-channel logout pass failed: database unavailable", exc_info=True)
                stop.wait(max(policy.poll_seconds, 5.0))
                continue
            if report.attempted < policy.batch_size:
                stop.wait(policy.poll_seconds)

    return Loop("backchannel-logout", run)
