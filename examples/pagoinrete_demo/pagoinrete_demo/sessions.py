"""Who is signed in to the demo, kept on the server so that a back-channel logout can end a session.

The browser's cookie holds only a random local session id. The record behind it remembers IAM's `sid` and
`sub`, which is what IAM's logout token names: without such a record an app whose sessions live only in a
signed cookie could not end them from a server-to-server call. This demo keeps the records in a dict in the
process (so it runs with one gunicorn worker, see README.md); a real app keeps them where all its processes
can see them (its database, Redis, ...).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SignedIn:
    """One local session: the user's claims, IAM's session id and the ID token (the hint for logout)."""

    sub: str
    sid: str | None
    claims: Mapping[str, Any]
    id_token: str
    started_at: float


class SessionRegistry:
    """Local sessions by id, ended by the user (logout), by age, or by IAM (back-channel, by sid or sub)."""

    def __init__(self, lifetime_seconds: float, clock: Callable[[], float] = time.time) -> None:
        self._lifetime = lifetime_seconds
        self._clock = clock
        self._lock = threading.Lock()  # gunicorn's threads share the dict
        self._sessions: dict[str, SignedIn] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def open(self, *, sub: str, sid: str | None, claims: Mapping[str, Any], id_token: str) -> str:
        """Record a new session; its id is what the cookie carries."""
        session_id = secrets.token_urlsafe(32)
        record = SignedIn(sub=sub, sid=sid, claims=dict(claims), id_token=id_token, started_at=self._clock())
        with self._lock:
            self._purge_expired()
            self._sessions[session_id] = record
        return session_id

    def get(self, session_id: str | None) -> SignedIn | None:
        if not session_id:
            return None
        with self._lock:
            record = self._sessions.get(session_id)
            if record is not None and self._expired(record):
                del self._sessions[session_id]
                return None
            return record

    def close(self, session_id: str | None) -> SignedIn | None:
        """End one session (the user's own logout); the record, for the ID token hint."""
        if not session_id:
            return None
        with self._lock:
            return self._sessions.pop(session_id, None)

    def close_matching(self, *, sub: str | None, sid: str | None) -> int:
        """End the sessions a logout token names: those of IAM session `sid`, else every one of `sub`.

        OpenID Connect Back-Channel Logout 1.0, section 2.7: with a sid only that IAM session's local
        sessions end (and they must belong to `sub` when the token names one too); with a sub alone, all of
        that user's.
        """
        if sid is None and sub is None:
            return 0

        def named(record: SignedIn) -> bool:
            if sid is not None:
                return record.sid == sid and (sub is None or record.sub == sub)
            return record.sub == sub

        with self._lock:
            ended = [key for key, record in self._sessions.items() if named(record)]
            for key in ended:
                del self._sessions[key]
        return len(ended)

    def _expired(self, record: SignedIn) -> bool:
        return self._clock() - record.started_at >= self._lifetime

    def _purge_expired(self) -> None:
        for key in [key for key, record in self._sessions.items() if self._expired(record)]:
            del self._sessions[key]
