"""The portal session, kept on the server: the cookie carries only a signed random session id.

The session (the user, the access, refresh and ID tokens, the login in progress, the CSRF secret) lives in
the gateway's shared store (gateway/auth/tokens.py: memory://, sqlite:/// or Redis, the store of the
refresh outcomes), under the SHA-256 of the cookie's random value and sealed with a key derived from that
value: whoever reads the store learns neither the cookie nor a token (issue 11 item 6). Logout, a refresh
IAM refuses and a back-channel logout delete the entry, so a copied cookie is worth nothing afterwards;
an idle session ends with its entry's time to live (PERMANENT_SESSION_LIFETIME, renewed while in use).

Sessions belong to the pages: Flask never opens the session under /api/ (nor for static files). The API
layer (gateway/api/proxy.py, below Flask) still reads the portal session to forward its user's access
token, and writes it back when it refreshed that token: `SessionCookies` does both with the very store,
cookie name and attributes of the pages' session interface, and only when the cookie is there.

When the store does not answer (Redis down), a session can be neither read nor checked against the ended
SSO sessions, so none is honoured: a page request that carries the session cookie, or that would have to
write a session (a login, a form's CSRF secret), is answered with the 503 page, and the cookie is kept for
when the store is back; pages that need no session are served as usual (docs/architecture.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, Request, Response, current_app, request, session
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin
from itsdangerous import BadSignature, Signer
from werkzeug.datastructures import CallbackDict
from werkzeug.http import dump_cookie, parse_cookie

from gateway.auth.tokens import OutcomeStore, StoreUnavailable, outcome_store

log = logging.getLogger("gateway.sessions")

# The JSON API, IAM's pages (forwarded with IAM's own cookies) and static files never need the session.
NO_SESSION_PREFIXES = ("/api/", "/iam/", "/oidc/", "/.well-known/", "/static/")
STORE_EXTENSION = "gateway.session_store"
KEY_PREFIX = "session:"
# An entry in use is written again (its time to live renewed, the cookie's expiry with it) at most this
# often when nothing in it changed: one store write per few minutes of browsing, not one per page.
RENEW_AFTER = 300
# A session nobody signed in to (a login in progress, a form's CSRF secret) is kept for at most this long:
# anonymous visits must not fill the store for a whole PERMANENT_SESSION_LIFETIME.
ANONYMOUS_LIFETIME = 3600
_SERIALIZER = TaggedJSONSerializer()


def session_store(app: Flask) -> OutcomeStore:
    """The app's shared store, made once: sessions, refresh outcomes and ended SSO sessions."""
    store: OutcomeStore | None = app.extensions.get(STORE_EXTENSION)
    if store is None:
        config = app.config
        store = outcome_store(
            config["GATEWAY_SESSION_STORE"],
            timeout=config["GATEWAY_CONNECT_TIMEOUT"] + config["GATEWAY_READ_TIMEOUT"],
        )
        app.extensions[STORE_EXTENSION] = store
    return store


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """A session whose data is in the store; `secret` is the cookie's random value (None: not stored yet)."""

    def __init__(
        self, initial: dict[str, Any] | None = None, *, secret: str | None = None, written_at: float = 0.0
    ) -> None:
        def on_update(self: ServerSession) -> None:
            self.modified = True
            self.accessed = True

        super().__init__(initial, on_update)
        self.secret = secret
        self.written_at = written_at
        self.modified = False
        self.accessed = False
        self.renewed = False  # a new id at the next save (login: no session fixation)
        self.stale_cookie = False  # the request's cookie named no live session
        self.store_down = False  # the store did not answer: nothing could be read, nothing may be written
        self.had_cookie = False  # (with store_down) the request carried a session cookie

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return super().get(key, default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return super().setdefault(key, default)

    def renew_id(self) -> None:
        """Give this session a new id when it is saved; the old entry is deleted (call it at login)."""
        self.renewed = True
        self.modified = True

    @property
    def key(self) -> str | None:
        """The store key of this session (the SHA-256 of its secret), or None before it is stored."""
        return _key(self.secret) if self.secret else None


def _key(secret: str) -> str:
    return KEY_PREFIX + hashlib.sha256(secret.encode()).hexdigest()


_HKDF_INFO = b"polis gateway session"
_HKDF_NO_SALT = bytes(32)  # RFC 5869: no salt is a string of HashLen zeros


def _cipher(secret: str) -> AESGCM:
    """AES-GCM under HKDF-SHA256(secret, info=_HKDF_INFO), 32 bytes: one extract and one expand block
    (RFC 5869), the very key cryptography's HKDF gives, with the standard library's HMAC, which costs a
    page request several times less than building the HKDF object (issue 18)."""
    pseudorandom = hmac.digest(_HKDF_NO_SALT, secret.encode(), "sha256")
    return AESGCM(hmac.digest(pseudorandom, _HKDF_INFO + b"\x01", "sha256"))


# Flask's tagged JSON marks the values JSON has no type for (tuples, bytes, Markup, UUIDs, datetimes, and a
# one-key dict whose key is a tag) with one-key dicts whose keys start with a space. A session of plain
# JSON values (the usual: the user, the tokens, the login in progress) is the same text either way, so it is
# written and read by the json module directly, without the tagger's walk over every value (issue 18); an
# entry with anything else, or with a string starting with a space, takes the tagged path as before.
_TAG_KEYS = frozenset(_SERIALIZER.tags)


def _plain(value: Any) -> bool:
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return True
    if kind is list:
        return all(_plain(item) for item in value)
    if kind is dict:
        if len(value) == 1 and next(iter(value)) in _TAG_KEYS:
            return False
        return all(type(key) is str and _plain(item) for key, item in value.items())
    return False


def _dumps(value: dict[str, Any]) -> str:
    if _plain(value):
        return json.dumps(value, separators=(",", ":"))
    return _SERIALIZER.dumps(value)


def _loads(text: str) -> Any:
    # A tag is a key starting with a space: its text has a quote and a space (or an escaped space) in a row.
    if '" ' not in text and "\\u0020" not in text:
        return json.loads(text)
    return _SERIALIZER.loads(text)


def _seal(secret: str, data: dict[str, Any], written_at: float) -> bytes:
    nonce = os.urandom(12)
    plain = _dumps({"d": data, "w": written_at}).encode()
    return base64.b64encode(nonce + _cipher(secret).encrypt(nonce, plain, None))


def _open(secret: str, sealed: bytes) -> tuple[dict[str, Any], float] | None:
    try:
        raw = base64.b64decode(sealed)
        opened = _loads(_cipher(secret).decrypt(raw[:12], raw[12:], None).decode())
    except (InvalidTag, ValueError, TypeError):
        log.warning("a session entry could not be opened")
        return None
    if not isinstance(opened, dict) or not isinstance(opened.get("d"), dict):
        return None
    return opened["d"], float(opened.get("w") or 0.0)


class SessionCodec:
    """Cookie value <-> session, shared by the pages' session interface and the /api/ layer."""

    def __init__(self, app: Flask) -> None:
        if not app.secret_key:
            raise ValueError("the gateway needs SECRET_KEY for its sessions")
        self.store = session_store(app)
        self.signer = Signer(app.secret_key, salt="polis-gateway-session-id")
        self.secret_key = app.secret_key if isinstance(app.secret_key, bytes) else app.secret_key.encode()
        lifetime = app.config["PERMANENT_SESSION_LIFETIME"]
        self.lifetime = lifetime if isinstance(lifetime, timedelta) else timedelta(seconds=int(lifetime))

    def load(self, value: str | None) -> ServerSession:
        """The session a cookie value names; an empty new one for no cookie, a forged or an ended one."""
        if not value:
            return ServerSession()
        try:
            secret = self.signer.unsign(value).decode()
        except (BadSignature, UnicodeDecodeError):
            secret = None
        sealed = self.store.get(_key(secret)) if secret else None
        opened = _open(secret, sealed) if secret and sealed else None
        if opened is None:
            # Never adopt the id of a session that is not there: a planted cookie must not become a session.
            session = ServerSession()
            session.stale_cookie = True
            return session
        data, written_at = opened
        return ServerSession(data, secret=secret, written_at=written_at)

    def save(self, session: ServerSession) -> str | None:
        """Store `session`; the new cookie value when the cookie must be (re)sent, else None."""
        now = time.time()
        if session.renewed and session.secret:
            self.store.release(_key(session.secret))
            session.secret = None
        fresh = session.secret is None
        if not (fresh or session.modified or now - session.written_at >= RENEW_AFTER):
            return None
        if fresh:
            session.secret = secrets.token_urlsafe(32)
        assert session.secret is not None
        session.written_at = now
        ttl = self.lifetime.total_seconds()
        if not session.permanent:
            ttl = min(ttl, ANONYMOUS_LIFETIME)
        self.store.put(_key(session.secret), _seal(session.secret, dict(session), now), ttl=ttl)
        session.modified = session.renewed = False
        return self.signer.sign(session.secret).decode()

    def delete(self, session: ServerSession) -> None:
        if session.secret:
            self.store.release(_key(session.secret))

    def logout_token(self, session: ServerSession) -> str | None:
        """The CSRF token of the logout form: bound to this session, so it dies with it."""
        if not session.secret:
            return None
        digest = hmac.new(self.secret_key, f"logout|{session.key}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def logout_token_valid(self, session: ServerSession, token: str | None) -> bool:
        expected = self.logout_token(session)
        if not expected or not token:
            return False
        return hmac.compare_digest(expected.encode(), str(token).encode())


CODEC_EXTENSION = "gateway.session_codec"


def session_codec(app: Flask) -> SessionCodec:
    codec: SessionCodec | None = app.extensions.get(CODEC_EXTENSION)
    if codec is None:
        codec = app.extensions[CODEC_EXTENSION] = SessionCodec(app)
    return codec


def _server_session(session: Any) -> ServerSession | None:
    actual = session._get_current_object() if hasattr(session, "_get_current_object") else session
    return actual if isinstance(actual, ServerSession) else None


def renew_session_id(session: Any) -> None:
    """At login: the session gets a new id when saved, and the entry of the old one is deleted."""
    actual = _server_session(session)
    if actual is not None:
        actual.renew_id()


def logout_token(session: Any) -> str | None:
    """The logout form's CSRF token for the current app's `session` (None without a stored session)."""
    actual = _server_session(session)
    return session_codec(current_app).logout_token(actual) if actual is not None else None


def logout_token_valid(session: Any, token: str | None) -> bool:
    actual = _server_session(session)
    return actual is not None and session_codec(current_app).logout_token_valid(actual, token)


class PageSessionInterface(SessionInterface):
    """The server-side session for pages; none at all under /api/ (saves a store read per call)."""

    def open_session(self, app: Flask, request: Request) -> ServerSession | None:
        if request.path.startswith(NO_SESSION_PREFIXES):
            return None  # Flask substitutes a null session, which refuses writes
        cookie = request.cookies.get(self.get_cookie_name(app))
        try:
            return session_codec(app).load(cookie)
        except StoreUnavailable as error:
            log.warning("portal session not readable: %s", error)
            unavailable = ServerSession()
            unavailable.store_down, unavailable.had_cookie = True, bool(cookie)
            return unavailable

    def cookie_attributes(self, app: Flask) -> dict[str, Any]:
        """The session cookie's attributes (config.py's SESSION_COOKIE_*), for Set-Cookie headers."""
        return {
            "domain": self.get_cookie_domain(app),
            "path": self.get_cookie_path(app),
            "secure": self.get_cookie_secure(app),
            "httponly": self.get_cookie_httponly(app),
            "samesite": self.get_cookie_samesite(app),
            "partitioned": self.get_cookie_partitioned(app),
        }

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, ServerSession):
            return  # the null session of the paths above
        name, attributes = self.get_cookie_name(app), self.cookie_attributes(app)
        if session.accessed or session.store_down:
            response.vary.add("Cookie")
        if session.store_down:  # the cookie stays as it is: its session may still be there once it is back
            if session.modified:  # a login to start, a form's CSRF secret: this page cannot work now
                _answer_unavailable(response)
            return
        codec = session_codec(app)
        try:
            if not session:
                if session.secret:  # cleared: logout, or the session ended at IAM
                    codec.delete(session)
                if session.secret or session.stale_cookie:
                    response.delete_cookie(name, **attributes)
                    response.vary.add("Cookie")
                return
            value = codec.save(session)
        except StoreUnavailable as error:  # not written (nor a logout's deletion): the page cannot work now
            log.warning("portal session not saved: %s", error)
            _answer_unavailable(response)
            return
        if value is not None:
            response.set_cookie(name, value, expires=self.get_expiration_time(app, session), **attributes)
            response.vary.add("Cookie")


def register_store_outage(app: Flask) -> None:
    """Fail closed while the store does not answer: a session that cannot be read is not honoured."""
    from gateway.errors import unavailable_answer

    @app.before_request
    def _session_unreadable() -> Response | None:
        if (
            isinstance(session, ServerSession)
            and session.store_down
            and (session.had_cookie or request.method != "GET")
        ):
            return unavailable_answer()
        return None


def _answer_unavailable(response: Response) -> None:
    """Turn the answer being saved into the 503 of an unreachable store (its cookie changes dropped)."""
    from gateway.errors import unavailable_answer

    answer = unavailable_answer()
    response.status_code = answer.status_code
    response.headers.clear()
    response.headers.extend(answer.headers)
    response.set_data(answer.get_data())


class SessionCookies:
    """The portal session read from, and written to, a raw WSGI request (the /api/ layer)."""

    def __init__(self, app: Flask) -> None:
        interface = PageSessionInterface()
        self.codec = session_codec(app)
        self.name = interface.get_cookie_name(app)
        self._attributes = interface.cookie_attributes(app)

    def load(self, environ: dict[str, Any]) -> ServerSession | None:
        """The session the request's cookie names, or None (no cookie, a forged, ended or expired one)."""
        header = environ.get("HTTP_COOKIE", "")
        if self.name not in header:
            return None
        value = parse_cookie(header).get(self.name)
        if not value:
            return None
        session = self.codec.load(value)
        return session if session.secret else None

    def dump(self, session: ServerSession) -> list[tuple[str, str]]:
        """Store `session` (its tokens were refreshed); the Set-Cookie header when the cookie must change."""
        session.modified = True
        value = self.codec.save(session)
        if value is None:
            return []
        lifetime = self.codec.lifetime
        expires = datetime.now(UTC) + lifetime if session.get("_permanent") else None
        return [("Set-Cookie", dump_cookie(self.name, value, expires=expires, **self._attributes))]

    def expire(self, session: ServerSession | None = None) -> tuple[str, str]:
        """The Set-Cookie header that ends the session; its entry is deleted."""
        if session is not None:
            self.codec.delete(session)
        return "Set-Cookie", dump_cookie(self.name, "", expires=0, max_age=0, **self._attributes)
