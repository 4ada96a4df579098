"""Token signing keys of the OpenID Connect provider (issue 5, item 3): one chain of keys per algorithm
(ES256 on P-256, RS256 on RSA 3072), rotated ahead of time and sealed at rest.

A key's life: published in the JWKS from created_at; signs from signs_from (created_at + the publish lead,
so every verifier can have fetched it before it meets a token); stops signing at retired_at (the moment
its successor starts); leaves the JWKS, and so verification, at published_until (retired_at + the
retention, which outlasts every token it signed). Rotation sets all of these at once, in advance: no
process has to be awake at the switch, and every process switches at the same instant.

Encryption at rest: the private JWK is stored as "v1:<kek fingerprint>:<base64url(nonce | AES-256-GCM
ciphertext)>", sealed with the key-encryption key IAM_KEY_ENCRYPTION_KEY and the kid as associated data
(a blob copied to another row does not open). The setting is a comma-separated ring of base64url 32-byte
keys: the first seals, all of them open, which lets the KEK itself be rotated (key_admin's `reseal`).
Rows written in clear before issue 5 are still read, once, and sealed in place at that first read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app, has_app_context
from joserfc.jwk import ECKey, RSAKey
from polis.config import ConfigError, Secret
from polis.db import Database
from polis.errors import ApiError
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session

from iam.audit import service as audit
from iam.audit.service import Origin
from iam.oidc.models import OidcClient, SigningKey
from iam.oidc.txn import write_transaction

log = logging.getLogger("iam.oidc.keys")

ALG = "ES256"  # the default: access tokens, and ID tokens of clients that do not ask for RS256
ALGORITHMS = ("ES256", "RS256")
RSA_BITS = 3072  # NIST's size for use beyond 2030; signing costs ~0.7 ms, generating ~0.2-1 s
SigningJwk = ECKey | RSAKey

SCHEME = "v1"
_AAD = b"polis-iam-oidc-signing-key:"
# The longest token a key signs besides access tokens (clients' access_token_ttl is read at rotation):
# ID tokens live 5 minutes and logout tokens 2; retention never goes below this floor.
MIN_RETENTION = timedelta(minutes=5)

# Settings names (iam.config) and what a process falls back to when none is configured.
KEK_SETTING = "KEY_ENCRYPTION_KEY"
KEK_ENV = "IAM_KEY_ENCRYPTION_KEY"


class KeyUnavailable(ApiError):
    """A signing key cannot be used: its sealed private part does not open with the configured KEK."""

    status = 503
    code = "signing_key_unavailable"
    message = "The token signing key is not available; the service needs its operators."


# --- settings ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeySettings:
    """How keys are sealed and rotated (IAM_KEY_ENCRYPTION_KEY, IAM_OIDC_KEY_* settings)."""

    keks: tuple[bytes, ...] = field(repr=False)  # the first seals, every one opens
    publish_lead: timedelta
    retention: timedelta
    rotation: timedelta

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> KeySettings:
        lead = float(config.get("OIDC_KEY_PUBLISH_LEAD_SECONDS", 3600))
        retention = float(config.get("OIDC_KEY_RETENTION_SECONDS", 24 * 3600))
        days = float(config.get("OIDC_KEY_ROTATION_DAYS", 30))
        if lead < 0 or retention < 0:
            raise ConfigError("IAM_OIDC_KEY_PUBLISH_LEAD_SECONDS and _RETENTION_SECONDS must not be negative")
        if days <= 0:
            raise ConfigError("IAM_OIDC_KEY_ROTATION_DAYS must be positive")
        return cls(
            keks=parse_keks(config.get(KEK_SETTING)),
            publish_lead=timedelta(seconds=lead),
            retention=timedelta(seconds=retention),
            rotation=timedelta(days=days),
        )


def parse_keks(value: Secret | str | None) -> tuple[bytes, ...]:
    """The KEK ring from its setting: base64url (or base64) 32-byte keys, comma-separated, newest first.

    Errors name the setting and the position, never the value."""
    raw = value.reveal() if isinstance(value, Secret) else (value or "")
    items = [item.strip() for item in raw.split(",")]
    if not raw.strip() or not all(items):
        raise ConfigError(
            f"{KEK_ENV} is required: 32 random bytes in base64url, comma-separated when rotating"
        )
    keks = []
    for position, item in enumerate(items, start=1):
        normalized = item.replace("+", "-").replace("/", "_").rstrip("=")  # base64 from openssl works too
        if not re.fullmatch(r"[A-Za-z0-9_-]{43}", normalized):  # exactly 32 bytes
            raise ConfigError(
                f"{KEK_ENV} item {position} is not 32 bytes in base64url "
                '(python3 -c "import secrets; print(secrets.token_urlsafe(32))")'
            )
        keks.append(base64.urlsafe_b64decode(normalized + "="))
    return tuple(keks)


_settings: KeySettings | None = None


def configure(settings: KeySettings) -> None:
    """Set this process's key settings (register_oidc for the web app, the worker's loop for itself)."""
    global _settings
    _settings = settings


def current_settings() -> KeySettings:
    if _settings is not None:
        return _settings
    if has_app_context():
        return KeySettings.from_config(current_app.config)
    raise RuntimeError("iam.oidc.keys is not configured: call keys.configure(KeySettings.from_config(...))")


# --- sealing -------------------------------------------------------------------------------------------


def kek_fingerprint(kek: bytes) -> str:
    """A short, non-secret name of a KEK (an HMAC under the key itself): which KEK sealed a row."""
    return hmac.new(kek, b"polis-iam-kek-fingerprint", hashlib.sha256).hexdigest()[:8]


def seal(private_jwk: Mapping[str, Any], *, kid: str, kek: bytes) -> str:
    """Encrypt a private JWK for the row of `kid`: a fresh 96-bit nonce each time, the kid bound as AAD."""
    nonce = os.urandom(12)
    plaintext = json.dumps(dict(private_jwk), separators=(",", ":"), sort_keys=True).encode()
    sealed = AESGCM(kek).encrypt(nonce, plaintext, _AAD + kid.encode())
    blob = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
    return f"{SCHEME}:{kek_fingerprint(kek)}:{blob}"


def is_sealed(stored: str) -> bool:
    return stored.startswith(SCHEME + ":")


def sealed_with(stored: str) -> str:
    """Which KEK sealed a stored value (its fingerprint), "clear" for a row from before issue 5."""
    if not is_sealed(stored):
        return "clear"
    return stored.split(":", 2)[1]


def unseal(stored: str, *, kid: str, keks: Sequence[bytes]) -> dict[str, Any]:
    """The private JWK of a stored value; KeyUnavailable when no configured KEK opens it."""
    if stored.lstrip().startswith("{"):  # written in clear before issue 5
        return _as_jwk(stored, kid)
    scheme, _, rest = stored.partition(":")
    fingerprint, _, blob = rest.partition(":")
    if scheme != SCHEME or not blob:
        raise _unavailable(kid, "unknown sealing scheme")
    kek = next((kek for kek in keks if hmac.compare_digest(kek_fingerprint(kek), fingerprint)), None)
    if kek is None:
        raise _unavailable(kid, f"sealed with a key-encryption key that is not configured ({fingerprint})")
    try:
        raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        plaintext = AESGCM(kek).decrypt(raw[:12], raw[12:], _AAD + kid.encode())
    except (InvalidTag, binascii.Error, ValueError):
        raise _unavailable(kid, "does not open: tampered, or sealed for another row") from None
    return _as_jwk(plaintext.decode(), kid)


def _as_jwk(serialized: str, kid: str) -> dict[str, Any]:
    try:
        value = json.loads(serialized)
    except ValueError:
        raise _unavailable(kid, "not a JWK") from None
    if not isinstance(value, dict):
        raise _unavailable(kid, "not a JWK")
    return value


def _unavailable(kid: str, reason: str) -> KeyUnavailable:
    # For the operators: which key and why (never a secret). The user sees KeyUnavailable's message.
    log.error("oidc signing key cannot be used", extra={"kid": kid, "reason": reason})
    return KeyUnavailable()


# --- the keys' lives -----------------------------------------------------------------------------------


def as_utc(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes (stored in UTC); PostgreSQL aware ones."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class KeyRecord:
    """A signing key's row without its private part (what lists, caches and decisions need)."""

    kid: str
    alg: str
    created_at: datetime
    signs_from: datetime
    retired_at: datetime | None
    published_until: datetime | None
    sealing: str  # fingerprint of the KEK that sealed it, or "clear"

    @classmethod
    def of(cls, row: SigningKey) -> KeyRecord:
        return cls(
            kid=row.kid,
            alg=row.alg,
            created_at=as_utc(row.created_at),
            signs_from=as_utc(row.signs_from),
            retired_at=as_utc(row.retired_at) if row.retired_at else None,
            published_until=as_utc(row.published_until) if row.published_until else None,
            sealing=sealed_with(row.private_jwk),
        )

    def signs_at(self, now: datetime) -> bool:
        return self.signs_from <= now and (self.retired_at is None or self.retired_at > now)

    def published_at(self, now: datetime) -> bool:
        return self.created_at <= now and (self.published_until is None or self.published_until > now)

    def status(self, now: datetime) -> str:
        if not self.published_at(now):
            return "expired" if self.created_at <= now else "pending"
        if self.signs_at(now):
            return "signing"
        return "published" if self.signs_from > now else "retired"


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else as_utc(now)


def _published_rows(db: Database, now: datetime) -> list[tuple[KeyRecord, str]]:
    with db.transaction() as session:
        rows = session.scalars(
            select(SigningKey).where(
                or_(SigningKey.published_until.is_(None), SigningKey.published_until > now)
            )
        ).all()
        records = [(KeyRecord.of(row), row.private_jwk) for row in rows]
    return [(record, stored) for record, stored in records if record.published_at(now)]


# --- loading, and the in-process caches ----------------------------------------------------------------

_lock = threading.Lock()
_keys: dict[str, SigningJwk] = {}  # kid -> unsealed key; a kid's key never changes
# The signing key per alg is kept in memory for at most CACHE_SECONDS (and never past the publish lead,
# nor past the next switch this process knows of: its own retirement or a successor's signs_from). A
# rotation publishes the successor a lead ahead, so a process that is late by this much signs with a key
# every verifier already has, and never with one before its signs_from.
CACHE_SECONDS = 60.0
_active: dict[str, tuple[float, str, SigningJwk]] = {}


def forget_cached() -> None:
    _active.clear()
    _keys.clear()


def _key(db: Database, record: KeyRecord, stored: str, settings: KeySettings) -> SigningJwk:
    key = _keys.get(record.kid)
    if key is not None:
        return key
    jwk = unseal(stored, kid=record.kid, keks=settings.keks)
    key = RSAKey.import_key(jwk) if jwk.get("kty") == "RSA" else ECKey.import_key(jwk)  # type: ignore[arg-type]
    _keys[record.kid] = key
    if not is_sealed(stored):
        _seal_in_place(db, record.kid, stored, jwk, settings)
    return key


def _seal_in_place(db: Database, kid: str, clear: str, jwk: Mapping[str, Any], settings: KeySettings) -> None:
    # A row from before issue 5: seal it now (only if it is still the clear value: another process may
    # have sealed it first). It keeps signing until the next rotation, which `oidc-keys rotate` may hasten.
    with write_transaction(db) as session:
        session.execute(
            update(SigningKey)
            .where(SigningKey.kid == kid, SigningKey.private_jwk == clear)
            .values(private_jwk=seal(jwk, kid=kid, kek=settings.keks[0]))
        )
    log.warning("oidc signing key stored in clear was sealed", extra={"kid": kid})


def active_key(
    db: Database, alg: str = ALG, *, now: datetime | None = None, settings: KeySettings | None = None
) -> tuple[str, SigningJwk]:
    """The key that signs now for `alg`: the newest with signs_from <= now and not retired; the first
    key of the chain is created on first use. `now` (tests) bypasses the cache."""
    _check_alg(alg)
    if now is None:
        cached = _active.get(alg)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1], cached[2]
    moment = _now(now)
    settings = settings or current_settings()
    for attempt in range(2):
        rows = [(record, stored) for record, stored in _published_rows(db, moment) if record.alg == alg]
        signing = [(record, stored) for record, stored in rows if record.signs_at(moment)]
        if signing or attempt:
            break
        _create_first(db, alg, moment, settings)
    if not signing:
        raise RuntimeError(f"no {alg} signing key after creating one")  # a clock far behind the rows'
    record, stored = max(signing, key=lambda pair: (pair[0].signs_from, pair[0].created_at, pair[0].kid))
    key = _key(db, record, stored, settings)
    if now is None:
        _active[alg] = (
            time.monotonic() + _cache_for(record, [r for r, _ in rows], moment, settings),
            record.kid,
            key,
        )
    return record.kid, key


def _cache_for(record: KeyRecord, chain: Iterable[KeyRecord], now: datetime, settings: KeySettings) -> float:
    switches = [other.signs_from for other in chain if other.signs_from > now]
    if record.retired_at is not None:
        switches.append(record.retired_at)
    seconds = min(CACHE_SECONDS, settings.publish_lead.total_seconds())
    if switches:
        seconds = min(seconds, (min(switches) - now).total_seconds())
    return max(seconds, 0.0)


def generate(alg: str) -> SigningJwk:
    """A new private key for `alg`, its kid the RFC 7638 thumbprint."""
    if alg == "RS256":
        return RSAKey.generate_key(RSA_BITS, private=True, auto_kid=True)
    return ECKey.generate_key("P-256", private=True, auto_kid=True)


def _lock_chain(session: Session, alg: str) -> None:
    """Serialize writers of one alg's chain across processes: rotation and first-key creation read the
    chain, then write it. SQLite: write_transaction's BEGIN IMMEDIATE already does; PostgreSQL: an
    advisory lock held until the transaction ends (READ COMMITTED: the reads after it see the winner)."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": 0x504F4C49 + ALGORITHMS.index(alg)}
        )


def _row(key: SigningJwk, alg: str, *, created_at: datetime, signs_from: datetime, kek: bytes) -> SigningKey:
    kid = str(key.kid)
    return SigningKey(
        kid=kid,
        alg=alg,
        private_jwk=seal(key.as_dict(private=True), kid=kid, kek=kek),
        created_at=created_at,
        signs_from=signs_from,
    )


def _create_first(db: Database, alg: str, now: datetime, settings: KeySettings) -> None:
    key = generate(alg)  # outside the transaction: an RSA key takes a while
    with _lock, write_transaction(db) as session:
        _lock_chain(session, alg)
        live = session.scalars(
            select(SigningKey).where(SigningKey.alg == alg, SigningKey.retired_at.is_(None))
        ).all()
        if any(as_utc(row.signs_from) <= now for row in live):
            return  # another process created it first: its key signs
        session.add(_row(key, alg, created_at=now, signs_from=now, kek=settings.keks[0]))
    log.info("oidc signing key created", extra={"kid": key.kid, "alg": alg})


def _check_alg(alg: str) -> None:
    if alg not in ALGORITHMS:
        raise ValueError(f"unsupported signing algorithm {alg!r}")


# --- rotation ------------------------------------------------------------------------------------------

ROTATED = "oidc_key.rotated"  # the audit action
DELETED = "oidc_key.deleted"  # the audit action of a key whose last token has expired


@dataclass(frozen=True)
class Rotation:
    """What a rotation did for one alg: the successor (new, or already pending) and whom it succeeds."""

    alg: str
    kid: str
    signs_from: datetime
    created: bool
    previous: tuple[str, ...] = ()


def rotate(
    db: Database,
    alg: str | None = None,
    now: datetime | None = None,
    *,
    actor: str = "ops:cli",
    origin: Origin | None = None,
    settings: KeySettings | None = None,
) -> list[Rotation]:
    """Insert the next key of each alg (or of `alg`): published at once, signing after the publish lead;
    its predecessor retires at that moment and stays published for the retention. An alg whose successor
    is already pending keeps it (rotating twice in a row changes nothing). Audited, by `actor`."""
    moment = _now(now)
    settings = settings or current_settings()
    results = []
    for each in [alg] if alg else list(ALGORITHMS):
        _check_alg(each)
        results.append(_rotate_one(db, each, moment, settings, actor, origin or Origin()))
    forget_active()
    return results


def _pending(session: Session, alg: str, now: datetime) -> tuple[list[SigningKey], SigningKey | None]:
    heads = list(
        session.scalars(
            select(SigningKey).where(SigningKey.alg == alg, SigningKey.retired_at.is_(None))
        ).all()
    )
    pending = [row for row in heads if as_utc(row.signs_from) > now]
    return heads, max(pending, key=lambda row: as_utc(row.signs_from)) if pending else None


def _rotate_one(
    db: Database, alg: str, now: datetime, settings: KeySettings, actor: str, origin: Origin
) -> Rotation:
    with db.transaction() as session:  # cheap look first: no key generated for nothing
        _, pending = _pending(session, alg, now)
        if pending is not None:
            return Rotation(alg, pending.kid, as_utc(pending.signs_from), created=False)
    key = generate(alg)
    with write_transaction(db) as session:
        _lock_chain(session, alg)
        heads, pending = _pending(session, alg, now)
        if pending is not None:
            return Rotation(alg, pending.kid, as_utc(pending.signs_from), created=False)
        # The first key of a chain signs at once: no token of this alg exists that a verifier must check.
        signs_from = now + settings.publish_lead if heads else now
        published_until = signs_from + _retention(session, settings)
        session.add(_row(key, alg, created_at=now, signs_from=signs_from, kek=settings.keks[0]))
        for head in heads:
            head.retired_at = signs_from
            head.published_until = published_until
        previous = tuple(sorted(head.kid for head in heads))
        audit.record(
            session,
            action=ROTATED,
            origin=origin,
            actor=actor,
            details={
                "alg": alg,
                "kid": str(key.kid),
                "signs_from": signs_from.isoformat(),
                "previous": list(previous),
                "previous_published_until": published_until.isoformat() if heads else None,
            },
        )
    log.info(
        "oidc signing key rotated",
        extra={"alg": alg, "kid": key.kid, "signs_from": signs_from.isoformat(), "actor": actor},
    )
    return Rotation(alg, str(key.kid), signs_from, created=True, previous=previous)


def _retention(session: Session, settings: KeySettings) -> timedelta:
    # Long enough for the longest token the retiring key may have signed: the setting, but never less
    # than a client's access-token lifetime or an ID/logout token's.
    longest = session.scalar(select(func.max(OidcClient.access_token_ttl))) or 0
    return max(settings.retention, timedelta(seconds=int(longest)), MIN_RETENTION)


def rotate_if_due(
    db: Database,
    now: datetime | None = None,
    *,
    actor: str = "ops:schedule",
    settings: KeySettings | None = None,
) -> list[Rotation]:
    """Rotate each alg whose signing key has signed for IAM_OIDC_KEY_ROTATION_DAYS and has no successor
    yet; start a chain that has no key. One small query when nothing is due (the worker calls it often)."""
    moment = _now(now)
    settings = settings or current_settings()
    with db.transaction() as session:
        heads = [
            KeyRecord.of(row)
            for row in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))).all()
        ]
    results = []
    for alg in ALGORITHMS:
        chain = [record for record in heads if record.alg == alg]
        if chain and (
            any(record.signs_from > moment for record in chain)
            or max(record.signs_from for record in chain) > moment - settings.rotation
        ):
            continue
        results += rotate(db, alg, moment, actor=actor, settings=settings)
    return results


def delete_expired(db: Database, now: datetime | None = None, *, actor: str = "ops:schedule") -> list[str]:
    """Delete the keys no longer published: every token they signed has expired (the retention outlives
    the longest token lifetime), so no one can need them again, and a sealed private key kept for nothing
    is only a risk. Audited with the kid; returns the kids deleted."""
    moment = _now(now)
    with db.transaction() as session:
        expired = session.scalars(
            select(SigningKey)
            .where(SigningKey.published_until.is_not(None), SigningKey.published_until <= moment)
            .with_for_update(skip_locked=True)
        ).all()
        for row in expired:
            audit.record(
                session,
                action=DELETED,
                origin=Origin(),
                actor=actor,
                details={
                    "alg": row.alg,
                    "kid": row.kid,
                    "published_until": as_utc(row.published_until or moment).isoformat(),
                },
            )
            session.delete(row)
        kids = [row.kid for row in expired]
    with _lock:
        for kid in kids:
            _keys.pop(kid, None)
    if kids:
        log.info(
            "oidc signing keys deleted after their last token expired", extra={"kids": kids, "actor": actor}
        )
    return kids


def forget_active() -> None:
    """Drop this process's signing-key choice (after a rotation here; others re-read within the cache)."""
    _active.clear()


def list_keys(db: Database) -> list[KeyRecord]:
    """Every key IAM has, newest first, without private parts."""
    with db.transaction() as session:
        rows = session.scalars(select(SigningKey)).all()
        records = [KeyRecord.of(row) for row in rows]
    return sorted(records, key=lambda record: (record.created_at, record.kid), reverse=True)


def reseal(db: Database, *, settings: KeySettings | None = None) -> tuple[int, int]:
    """Seal every key with the first KEK of the ring (KEK rotation; also seals rows still in clear).
    Returns (resealed, already current). KeyUnavailable when a row opens with no configured KEK."""
    settings = settings or current_settings()
    current = kek_fingerprint(settings.keks[0])
    resealed = unchanged = 0
    with write_transaction(db) as session:
        for row in session.scalars(select(SigningKey).order_by(SigningKey.created_at)).all():
            if sealed_with(row.private_jwk) == current:
                unchanged += 1
                continue
            jwk = unseal(row.private_jwk, kid=row.kid, keks=settings.keks)
            row.private_jwk = seal(jwk, kid=row.kid, kek=settings.keks[0])
            resealed += 1
    return resealed, unchanged


def check_unsealable(
    db: Database, *, now: datetime | None = None, settings: KeySettings | None = None
) -> int:
    """Open every published key (the worker's start-up check); KeyUnavailable names the first that fails.
    Seals rows still in clear on the way. Returns how many keys were checked."""
    moment = _now(now)
    settings = settings or current_settings()
    rows = _published_rows(db, moment)
    for record, stored in rows:
        _key(db, record, stored, settings)
    return len(rows)


# --- publishing and signing ----------------------------------------------------------------------------


def public_jwks(db: Database, *, now: datetime | None = None) -> dict[str, Any]:
    """The JWKS document: the public half of every published key of every alg (kid, alg, use "sig")."""
    moment = _now(now)
    settings = current_settings()
    rows = _published_rows(db, moment)
    if not any(record.alg == ALG and record.signs_at(moment) for record, _ in rows):
        active_key(db, ALG, now=moment, settings=settings)  # the default chain always has a key
        rows = _published_rows(db, moment)
    keys = []
    for record, stored in sorted(rows, key=lambda pair: (pair[0].alg, pair[0].created_at, pair[0].kid)):
        public = _key(db, record, stored, settings).as_dict(private=False)
        public.update({"kid": record.kid, "alg": record.alg, "use": "sig"})
        keys.append(public)
    return {"keys": keys}


def sign(db: Database, claims: dict[str, Any], *, alg: str = ALG, typ: str = "JWT") -> str:
    """A compact JWS of these claims with the key that signs now for `alg` (header alg, kid and typ)."""
    from joserfc import jwt

    kid, key = active_key(db, alg)
    return jwt.encode({"alg": alg, "kid": kid, "typ": typ}, claims, key, algorithms=[alg])
