"""Token signing keys of the OpenID Connect provider (issue 5, item 3): one chain of keys per algorithm
(ES256 on P-256, RS256 on RSA 3072), rotated ahead of time and sealed at rest.

A key's life: published in the JWKS from created_at; signs from signs_from (created_at + the publish lead,
so every verifier can have fetched it before it meets a token); stops signing at retired_at (the moment
its successor starts); leaves the JWKS, and so verification, at published_until (retired_at + the
retention, which outlasts every token it signed). Rotation sets all of these at once, in advance: no
process has to be awake at the switch, and every process switches at the same instant.

The private parts are sealed at rest by iam.keys.sealing; this module only ever handles them opened.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey, RSAKey
from polis.db import Database
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session

from iam.audit import service as audit
from iam.audit.service import Origin
from iam.clients.models import OidcClient
from iam.keys import signing
from iam.keys.models import SigningKey
from iam.keys.sealing import ALG as ALG
from iam.keys.sealing import ALGORITHMS as ALGORITHMS
from iam.keys.sealing import MIN_RETENTION, RSA_BITS, SigningJwk, is_sealed, sealed_with
from iam.keys.sealing import KeySettings as KeySettings
from iam.keys.sealing import KeyUnavailable as KeyUnavailable
from iam.keys.sealing import configure as configure
from iam.keys.sealing import current_settings as current_settings
from iam.keys.sealing import kek_fingerprint as kek_fingerprint
from iam.keys.sealing import parse_keks as parse_keks
from iam.keys.sealing import seal as seal
from iam.keys.sealing import unseal as unseal

log = logging.getLogger("iam.oidc.keys")


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
    signing.forget()


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
    with db.transaction() as session:
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
    chain, then write it. SQLite: polis.db's BEGIN IMMEDIATE already does; PostgreSQL: an
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
    with _lock, db.transaction() as session:
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
    with db.transaction() as session:
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
    with db.transaction() as session:
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
    """A compact JWS (RFC 7515) of these claims with the key that signs now for `alg` (iam.keys.signing)."""
    kid, key = active_key(db, alg)
    return signing.compact_jws(claims, alg=alg, kid=kid, typ=typ, key=key)
