"""The user's access token in the portal session, kept fresh with the refresh grant — never spending a
refresh token twice.

IAM rotates refresh tokens and treats a second use of one as theft: the whole family is revoked and the
user is logged out everywhere. The portal session is a cookie, so several requests can arrive at once with
the same cookie (a page and its API calls, two tabs), in different threads, processes or pods. Whichever
comes first *claims* the refresh token in a store shared by them all, spends it at IAM and leaves the
outcome there for a grace period; the others wait for that outcome and adopt it instead of spending the
token again. The outcome is encrypted with a key derived from the spent refresh token itself, so only a
request that held that token can read the new ones (the store never holds a usable token in clear).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.auth import client

log = logging.getLogger("gateway.auth")

SESSION_KEY = "tok"  # short: the session is a cookie


@dataclass(frozen=True)
class SessionTokens:
    """What the portal session keeps to call the APIs for its user."""

    access_token: str
    expires_at: int  # epoch seconds
    refresh_token: str | None

    @classmethod
    def from_session(cls, session: Mapping[str, Any]) -> SessionTokens | None:
        data = session.get(SESSION_KEY)
        if not isinstance(data, dict):
            return None
        access, expires, refresh = data.get("at"), data.get("exp"), data.get("rt")
        if not isinstance(access, str) or not isinstance(expires, int):
            return None
        return cls(access, expires, refresh if isinstance(refresh, str) else None)

    @classmethod
    def from_response(
        cls, payload: Mapping[str, Any], *, now: float, previous_refresh: str | None = None
    ) -> SessionTokens | None:
        """From a token response; None when it carries no usable access token."""
        access, expires_in = payload.get("access_token"), payload.get("expires_in")
        if not isinstance(access, str) or not access or not isinstance(expires_in, int | float):
            return None
        refresh = payload.get("refresh_token")
        return cls(access, int(now + expires_in), refresh if isinstance(refresh, str) else previous_refresh)

    def store(self, session: MutableMapping[str, Any]) -> None:
        data: dict[str, Any] = {"at": self.access_token, "exp": self.expires_at}
        if self.refresh_token:
            data["rt"] = self.refresh_token
        session[SESSION_KEY] = data

    def fresh(self, now: float, margin: float) -> bool:
        return self.expires_at - now > margin

    def usable(self, now: float) -> bool:
        return self.expires_at > now


class Ended:
    """The outcome of a refresh IAM refused: the portal session must end."""

    def __repr__(self) -> str:
        return "ENDED"


ENDED = Ended()
Outcome = SessionTokens | Ended | None  # None: nothing changed (IAM away, or another request still busy)


# --- where outcomes are shared ----------------------------------------------------------------------------


class StoreUnavailable(Exception):
    """The shared store (Redis) did not answer: nothing in it can be read or written now. Callers fail
    closed for what the store guards (a portal session, an ended SSO session, a refresh claim): see
    docs/architecture.md, "When Redis is down"."""


class OutcomeStore(Protocol):
    def claim(self, key: str, ttl: float) -> bool:
        """True for the one caller that may spend the refresh token behind `key`."""

    def put(self, key: str, value: bytes, ttl: float) -> None: ...

    def get(self, key: str) -> bytes | None:
        """The live value under `key` (None when absent, expired or only claimed): a portal session."""

    def release(self, key: str) -> None:
        """Give up a claim without an outcome (IAM did not answer), or delete a value (a session ended)."""

    def wait(self, key: str, timeout: float) -> bytes | None:
        """The outcome another caller left for `key`, waiting up to `timeout` while it is pending."""


class LocalOutcomes:
    """One process's store (dev and tests, or a single-process deployment)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._changed = threading.Condition()
        self._entries: dict[str, tuple[float, bytes | None]] = {}  # key -> (deadline, outcome or pending)

    def _live(self, key: str) -> tuple[float, bytes | None] | None:
        entry = self._entries.get(key)
        if entry is not None and entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry

    def _forget_finished(self, now: float) -> None:
        if len(self._entries) > 10_000:  # now and then
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}

    def claim(self, key: str, ttl: float) -> bool:
        with self._changed:
            if self._live(key) is not None:
                return False
            now = self._clock()
            self._forget_finished(now)
            self._entries[key] = (now + ttl, None)
            return True

    def put(self, key: str, value: bytes, ttl: float) -> None:
        with self._changed:
            now = self._clock()
            self._forget_finished(now)
            self._entries[key] = (now + ttl, value)
            self._changed.notify_all()

    def get(self, key: str) -> bytes | None:
        with self._changed:
            entry = self._live(key)
            return entry[1] if entry else None

    def release(self, key: str) -> None:
        with self._changed:
            self._entries.pop(key, None)
            self._changed.notify_all()

    def wait(self, key: str, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                entry = self._live(key)
                if entry is None or entry[1] is not None:
                    return entry[1] if entry else None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)


class RedisOutcomes:
    """A store shared by every gateway process and pod (production: the rate limits' Redis). Any Redis
    failure (refused, reset, timed out) is raised as StoreUnavailable; redis-py reconnects by itself at the
    next call once the server is back."""

    PENDING = b"pending"
    POLL = 0.05

    def __init__(self, client: Any, prefix: str = "polis-gateway:refresh:") -> None:
        import redis  # installed with flask-limiter[redis]

        self._client = client
        self._prefix = prefix
        self._errors: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)

    @classmethod
    def from_url(cls, url: str, *, timeout: float) -> RedisOutcomes:
        import redis  # installed with flask-limiter[redis]

        return cls(redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout))

    @contextmanager
    def _reached(self) -> Iterator[None]:
        try:
            yield
        except self._errors as error:
            raise StoreUnavailable(f"the shared store does not answer: {type(error).__name__}") from error

    def claim(self, key: str, ttl: float) -> bool:
        with self._reached():
            return bool(self._client.set(self._prefix + key, self.PENDING, nx=True, px=int(ttl * 1000)))

    def put(self, key: str, value: bytes, ttl: float) -> None:
        with self._reached():
            self._client.set(self._prefix + key, value, px=int(ttl * 1000))

    def get(self, key: str) -> bytes | None:
        with self._reached():
            value = self._client.get(self._prefix + key)
        return value if isinstance(value, bytes) and value != self.PENDING else None

    def release(self, key: str) -> None:
        with self._reached():
            self._client.delete(self._prefix + key)

    def wait(self, key: str, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while True:
            with self._reached():
                value = self._client.get(self._prefix + key)
            if value != self.PENDING:
                return value if isinstance(value, bytes) else None
            if time.monotonic() >= deadline:
                return None
            time.sleep(self.POLL)


class SqliteOutcomes:
    """A store shared by the gateway's processes on one machine (make run: a file under var/), in SQLite
    through the standard library; wall-clock deadlines, since processes share no monotonic clock."""

    POLL = 0.02

    def __init__(self, path: str, clock: Callable[[], float] = time.time) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._clock = clock
        self._local = threading.local()
        self._claims = itertools.count(1)
        with closing(self._connect()) as connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS outcomes"
                " (key TEXT PRIMARY KEY, value BLOB, deadline REAL NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._path, timeout=5.0, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    def _db(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._connect()
        return connection

    def claim(self, key: str, ttl: float) -> bool:
        db, now = self._db(), self._clock()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM outcomes WHERE key = ? AND deadline <= ?", (key, now))
            inserted = db.execute(
                "INSERT OR IGNORE INTO outcomes (key, value, deadline) VALUES (?, NULL, ?)", (key, now + ttl)
            ).rowcount
            if inserted and next(self._claims) % 500 == 0:  # forget finished entries now and then
                db.execute("DELETE FROM outcomes WHERE deadline <= ?", (now,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return inserted == 1

    def put(self, key: str, value: bytes, ttl: float) -> None:
        db, now = self._db(), self._clock()
        db.execute(
            "INSERT OR REPLACE INTO outcomes (key, value, deadline) VALUES (?, ?, ?)", (key, value, now + ttl)
        )
        if next(self._claims) % 500 == 0:  # forget ended sessions and outcomes now and then
            db.execute("DELETE FROM outcomes WHERE deadline <= ?", (now,))

    def get(self, key: str) -> bytes | None:
        row = self._db().execute("SELECT value, deadline FROM outcomes WHERE key = ?", (key,)).fetchone()
        if row is None or row[0] is None or row[1] <= self._clock():
            return None
        return bytes(row[0])

    def release(self, key: str) -> None:
        self._db().execute("DELETE FROM outcomes WHERE key = ?", (key,))

    def wait(self, key: str, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while True:
            row = self._db().execute("SELECT value, deadline FROM outcomes WHERE key = ?", (key,)).fetchone()
            if row is None or row[1] <= self._clock():
                return None
            if row[0] is not None:
                return bytes(row[0])
            if time.monotonic() >= deadline:
                return None
            time.sleep(self.POLL)


# IAM's back-channel logout marks an ended SSO session here, for longer than any portal session lives: every
# gateway process then ends the portal sessions born of it at their next request.
ENDED_SESSION_TTL = 24 * 3600.0


def ended_session_key(iam_sid: str) -> str:
    return f"ended-sso-session:{iam_sid}"


def session_ended_at_iam(store: OutcomeStore, session: Mapping[str, Any]) -> bool:
    user = session.get("user")
    iam_sid = user.get("iam_sid") if isinstance(user, dict) else None
    return bool(iam_sid) and store.get(ended_session_key(str(iam_sid))) is not None


def outcome_store(url: str, *, timeout: float) -> OutcomeStore:
    """memory:// (one process), sqlite:///path (the processes of one machine) or redis[s]://... (shared)."""
    if url.startswith("memory://"):
        return LocalOutcomes()
    if url.startswith("sqlite:///"):
        return SqliteOutcomes(url.removeprefix("sqlite://"))
    if url.startswith(("redis://", "rediss://")):
        return RedisOutcomes.from_url(url, timeout=timeout)
    raise ValueError(
        f"the session store must be memory://, sqlite:/// or redis[s]://, not {url.split(':', 1)[0]}://"
    )


# --- refreshing -------------------------------------------------------------------------------------------


# refresh token -> token response; raises client.RefreshRefused (invalid_grant) or client.LoginFailed.
Grant = Callable[[str], Mapping[str, Any]]


def iam_grant(rp: client.RelyingParty, request_id: str | None) -> Grant:
    """The refresh grant at IAM's token endpoint, as the portal."""

    def grant(refresh_token: str) -> Mapping[str, Any]:
        return client.refresh_tokens(rp, refresh_token=refresh_token, request_id=request_id)

    return grant


class Refresher:
    """Turns a session's expiring tokens into fresh ones, spending each refresh token at most once."""

    def __init__(
        self,
        *,
        store: OutcomeStore,
        margin: float = 60.0,
        grace: float = 120.0,
        wait: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.margin = margin  # refresh when the access token has less than this left
        self.grace = grace  # how long a spent refresh token's outcome stays for latecomers
        self.wait = wait  # how long a latecomer waits for the outcome of a refresh in progress
        self.clock = clock

    def current(self, tokens: SessionTokens, grant: Grant) -> Outcome:
        """None when `tokens` are still fresh or cannot be refreshed now; new tokens; or ENDED.

        Raises StoreUnavailable when the claim cannot be taken: a refresh token is never spent without
        one (two processes could spend it twice and IAM would revoke the whole family)."""
        if tokens.fresh(self.clock(), self.margin) or not tokens.refresh_token:
            return None
        spent = tokens.refresh_token
        key = hashlib.sha256(spent.encode()).hexdigest()
        if self.store.claim(key, ttl=self.wait + 1.0):
            sealed = self._spend(spent, grant)
            if sealed is None:
                self.store.release(key)
                return None
            try:
                self.store.put(key, sealed, ttl=self.grace)
            except StoreUnavailable:
                # Spent, but the store went away since the claim: this request still gets the outcome.
                log.warning("a refresh outcome could not be shared: the store does not answer")
        else:
            # Another request (thread, process or pod) spends or has spent this refresh token: adopt its
            # outcome instead of sending the token to IAM a second time.
            sealed = self.store.wait(key, self.wait)
            if sealed is None:
                return None
        return _open(spent, sealed)

    def _spend(self, refresh_token: str, grant: Grant) -> bytes | None:
        try:
            payload = grant(refresh_token)
        except client.RefreshRefused:
            log.info("refresh token refused by IAM: the portal session ends")
            return _seal(refresh_token, {"ended": True})
        except client.LoginFailed as failure:
            log.warning("refresh failed, the session keeps its tokens: %s", failure.reason)
            return None
        # Without a new refresh token IAM did not rotate it: the old one stays good (RFC 6749 section 6).
        fresh = SessionTokens.from_response(payload, now=self.clock(), previous_refresh=refresh_token)
        if fresh is None:
            log.warning("refresh answered without an access token")
            return None
        return _seal(
            refresh_token, {"at": fresh.access_token, "exp": fresh.expires_at, "rt": fresh.refresh_token}
        )


def _cipher(refresh_token: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"polis gateway refresh outcome").derive(
        refresh_token.encode()
    )
    return AESGCM(key)


def _seal(refresh_token: str, outcome: dict[str, Any]) -> bytes:
    nonce = os.urandom(12)
    return base64.b64encode(nonce + _cipher(refresh_token).encrypt(nonce, json.dumps(outcome).encode(), None))


def _open(refresh_token: str, sealed: bytes) -> Outcome:
    try:
        raw = base64.b64decode(sealed)
        outcome = json.loads(_cipher(refresh_token).decrypt(raw[:12], raw[12:], None))
    except (InvalidTag, ValueError):
        log.warning("a refresh outcome could not be opened")
        return None
    if outcome.get("ended"):
        return ENDED
    return SessionTokens(outcome["at"], int(outcome["exp"]), outcome.get("rt"))
