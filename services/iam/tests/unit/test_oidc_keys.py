"""Token signing keys (issue 5, item 3): sealing at rest, ES256 and RS256 chains, rotation ahead of time,
retention until the tokens a key signed expire, the schedule, KEK rotation."""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from flask import Flask
from iam.audit.models import AuditEntry
from iam.extensions import db
from iam.keys import service as keys
from iam.keys.models import SigningKey
from iam.keys.service import KeySettings, KeyUnavailable
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from polis.config import ConfigError, Secret
from sqlalchemy import select

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LEAD = timedelta(hours=1)
RETENTION = timedelta(hours=24)
PRIVATE_PARAMETERS = ("d", "p", "q", "dp", "dq", "qi")
T = TypeVar("T")


def settings_with(*keks: bytes, lead: timedelta = LEAD) -> KeySettings:
    return KeySettings(keks=keks, publish_lead=lead, retention=RETENTION, rotation=timedelta(days=30))


@pytest.fixture
def kek() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def settings(app: Flask, kek: bytes) -> Iterator[KeySettings]:
    chosen = settings_with(kek)
    keys.forget_cached()
    keys.configure(chosen)
    with app.app_context():
        yield chosen
    keys.forget_cached()


def stored(kid: str) -> SigningKey:
    with db.transaction() as session:
        row = session.get_one(SigningKey, kid)
        session.expunge(row)
        return row


def jwks_at(moment: datetime) -> dict[str, Any]:
    return keys.public_jwks(db, now=moment)


def kids(document: dict[str, Any]) -> set[str]:
    return {key["kid"] for key in document["keys"]}


def token_from(kid: str, key: Any, alg: str = "ES256") -> str:
    return jwt.encode({"alg": alg, "kid": kid, "typ": "JWT"}, {"sub": "42"}, key, algorithms=[alg])


def verifies(token: str, document: dict[str, Any], alg: str = "ES256") -> bool:
    try:
        jwt.decode(token, KeySet.import_key_set(document), algorithms=[alg])  # type: ignore[arg-type]
    except JoseError:
        return False
    return True


# --- sealing at rest ------------------------------------------------------------------------------------


def test_a_sealed_key_has_no_private_parameter_in_clear_and_opens_with_its_kek(kek: bytes) -> None:
    """issue 5: private keys encrypted at rest (AES-256-GCM, versioned, random nonce)."""
    key = ECKey.generate_key("P-256", private=True, auto_kid=True)
    private = key.as_dict(private=True)

    first = keys.seal(private, kid=str(key.kid), kek=kek)
    second = keys.seal(private, kid=str(key.kid), kek=kek)

    assert first.startswith("v1:") and first != second  # a fresh nonce each time
    assert '"d"' not in first and str(private["d"]) not in first
    assert keys.unseal(first, kid=str(key.kid), keks=[kek]) == private


def test_a_different_kek_cannot_unseal(kek: bytes) -> None:
    """issue 5: only the key-encryption key opens the private keys."""
    sealed = keys.seal({"kty": "EC", "d": "secret"}, kid="k1", kek=kek)

    with pytest.raises(KeyUnavailable):
        keys.unseal(sealed, kid="k1", keks=[secrets.token_bytes(32)])
    # Even one that claims the right fingerprint: the GCM tag refuses it.
    forged = secrets.token_bytes(32)
    relabelled = sealed.replace(keys.kek_fingerprint(kek), keys.kek_fingerprint(forged))
    with pytest.raises(KeyUnavailable):
        keys.unseal(relabelled, kid="k1", keks=[forged])


def test_a_sealed_key_cannot_be_moved_to_another_row_or_tampered_with(kek: bytes) -> None:
    sealed = keys.seal({"kty": "EC", "d": "secret"}, kid="k1", kek=kek)
    head, _, blob = sealed.rpartition(":")
    raw = bytearray(base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4)))
    raw[-1] ^= 1
    tampered = f"{head}:{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"

    with pytest.raises(KeyUnavailable):
        keys.unseal(sealed, kid="k2", keks=[kek])  # the kid is the associated data
    with pytest.raises(KeyUnavailable):
        keys.unseal(tampered, kid="k1", keks=[kek])
    with pytest.raises(KeyUnavailable):
        keys.unseal("v9:" + sealed[3:], kid="k1", keks=[kek])  # an unknown scheme


@pytest.mark.parametrize("value", ["", "short", "a" * 43 + ",", "not base64 at all!!!!!!!!!!!!!!!!!!!!!!!!!"])
def test_a_malformed_kek_setting_is_a_clear_configuration_error(value: str) -> None:
    with pytest.raises(ConfigError) as error:
        keys.parse_keks(Secret(value))
    assert "IAM_KEY_ENCRYPTION_KEY" in str(error.value)
    assert not value or value not in str(error.value)  # the value is never echoed


def test_the_kek_ring_reads_base64url_keys_newest_first() -> None:
    new, old = secrets.token_bytes(32), secrets.token_bytes(32)
    setting = ",".join(base64.urlsafe_b64encode(kek).rstrip(b"=").decode() for kek in (new, old))

    assert keys.parse_keks(Secret(setting)) == (new, old)
    assert repr(new) not in repr(settings_with(new))  # never in a log line or a traceback


def test_keys_are_stored_sealed(settings: KeySettings) -> None:
    """issue 5: the stored private_jwk holds no private parameter in clear."""
    es_kid, es_key = keys.active_key(db, "ES256")
    rs_kid, rs_key = keys.active_key(db, "RS256")

    for kid, key in ((es_kid, es_key), (rs_kid, rs_key)):
        value = stored(kid).private_jwk
        assert value.startswith("v1:")
        assert not any(f'"{name}"' in value for name in PRIVATE_PARAMETERS)
        private = key.as_dict(private=True)
        assert not any(str(private[name]) in value for name in PRIVATE_PARAMETERS if name in private)


def test_a_key_stored_in_clear_before_issue_5_still_signs_and_is_sealed_at_first_read(
    settings: KeySettings,
) -> None:
    key = ECKey.generate_key("P-256", private=True, auto_kid=True)
    kid = str(key.kid)
    with db.transaction() as session:
        session.add(
            SigningKey(
                kid=kid,
                alg="ES256",
                private_jwk=json.dumps(key.as_dict(private=True)),
                created_at=T0,
                signs_from=T0,
            )
        )

    active_kid, active = keys.active_key(db, "ES256", now=T0 + timedelta(minutes=1))

    assert active_kid == kid and active.as_dict(private=True)["d"] == key.as_dict(private=True)["d"]
    assert stored(kid).private_jwk.startswith("v1:")
    keys.forget_cached()
    assert keys.active_key(db, "ES256", now=T0 + timedelta(minutes=2))[0] == kid  # opens sealed


# --- both algorithms ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("alg", "kty"), [("ES256", "EC"), ("RS256", "RSA")])
def test_es256_and_rs256_both_sign_and_verify_against_the_jwks(
    settings: KeySettings, alg: str, kty: str
) -> None:
    """issue 5: ID tokens signed with ES256, RS256 also offered."""
    token = keys.sign(db, {"sub": "42"}, alg=alg, typ="at+jwt")
    document = keys.public_jwks(db)

    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    [published] = [key for key in document["keys"] if key["kid"] == header["kid"]]
    assert header == {"alg": alg, "kid": published["kid"], "typ": "at+jwt"}
    assert published["kty"] == kty and published["alg"] == alg and published["use"] == "sig"
    assert not set(PRIVATE_PARAMETERS) & set(published)
    assert verifies(token, document, alg)
    if alg == "RS256":
        assert len(base64.urlsafe_b64decode(published["n"] + "==")) * 8 >= 3072


def test_each_algorithm_has_its_own_chain(settings: KeySettings) -> None:
    keys.active_key(db, "ES256", now=T0)
    keys.active_key(db, "RS256", now=T0)

    [rotation] = keys.rotate(db, "RS256", now=T0 + timedelta(days=1))

    assert rotation.alg == "RS256" and rotation.created
    assert [record.alg for record in keys.list_keys(db)].count("ES256") == 1


def test_an_unknown_algorithm_is_refused(settings: KeySettings) -> None:
    with pytest.raises(ValueError, match="HS256"):
        keys.sign(db, {"sub": "42"}, alg="HS256")


# --- rotation -------------------------------------------------------------------------------------------


def test_a_new_key_is_in_the_jwks_before_it_signs(settings: KeySettings) -> None:
    """issue 5: a new key published in the JWKS before it signs."""
    old_kid, _ = keys.active_key(db, "ES256", now=T0)

    [rotation] = keys.rotate(db, "ES256", now=T0 + timedelta(days=1))

    assert rotation.created and rotation.previous == (old_kid,)
    assert rotation.signs_from == T0 + timedelta(days=1) + LEAD
    just_rotated = T0 + timedelta(days=1, seconds=1)
    assert kids(jwks_at(just_rotated)) == {old_kid, rotation.kid}
    assert keys.active_key(db, "ES256", now=just_rotated)[0] == old_kid  # not signing yet
    assert keys.active_key(db, "ES256", now=rotation.signs_from - timedelta(seconds=1))[0] == old_kid
    assert keys.active_key(db, "ES256", now=rotation.signs_from)[0] == rotation.kid


def test_the_old_key_verifies_its_tokens_until_published_until_then_leaves_the_jwks(
    settings: KeySettings,
) -> None:
    """issue 5 negative test: a token from a rotated-out key after its expiry no longer verifies."""
    old_kid, old_key = keys.active_key(db, "ES256", now=T0)
    token = token_from(old_kid, old_key)
    [rotation] = keys.rotate(db, "ES256", now=T0 + timedelta(days=30))

    old = stored(old_kid)
    retired_at = keys.as_utc(old.retired_at) if old.retired_at else None
    published_until = keys.as_utc(old.published_until) if old.published_until else None
    assert retired_at == rotation.signs_from
    assert published_until == rotation.signs_from + RETENTION
    # Retired, still published: its tokens keep verifying.
    assert verifies(token, jwks_at(rotation.signs_from + timedelta(hours=1)))
    assert verifies(token, jwks_at(published_until - timedelta(seconds=1)))
    # Past published_until: gone from the JWKS, and its tokens no longer verify.
    after = jwks_at(published_until + timedelta(seconds=1))
    assert old_kid not in kids(after) and rotation.kid in kids(after)
    assert not verifies(token, after)


def test_issue_17_a_key_is_deleted_once_its_last_token_can_have_expired_and_not_before(
    settings: KeySettings,
) -> None:
    old_kid, _ = keys.active_key(db, "ES256", now=T0)
    [rotation] = keys.rotate(db, "ES256", now=T0 + timedelta(days=30))
    published_until = keys.as_utc(stored(old_kid).published_until)

    assert keys.delete_expired(db, now=published_until - timedelta(seconds=1)) == []
    assert old_kid in kids(jwks_at(published_until - timedelta(seconds=1)))  # still verifying its tokens

    assert keys.delete_expired(db, now=published_until) == [old_kid]
    assert keys.delete_expired(db, now=published_until + timedelta(days=1)) == []  # once
    with db.transaction() as session:
        remaining = set(session.scalars(select(SigningKey.kid)).all())
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == keys.DELETED)).all()
    assert old_kid not in remaining and rotation.kid in remaining
    assert entry.details["kid"] == old_kid and entry.actor == "ops:schedule"
    assert rotation.kid in kids(jwks_at(published_until + timedelta(seconds=1)))  # the successor signs on


def test_retention_covers_the_longest_access_token_of_any_client(settings: KeySettings) -> None:
    from iam.clients.models import OidcClient

    with db.transaction() as session:
        session.add(
            OidcClient(
                client_id="long",
                name="Long tokens",
                access_token_ttl=48 * 3600,
                created_at=T0,
                updated_at=T0,
            )
        )
    old_kid, _ = keys.active_key(db, "ES256", now=T0)

    [rotation] = keys.rotate(db, "ES256", now=T0 + timedelta(days=1))

    published_until = stored(old_kid).published_until
    assert published_until is not None
    assert keys.as_utc(published_until) == rotation.signs_from + timedelta(hours=48)


def test_rotating_twice_keeps_the_pending_successor_and_records_one_audit_entry(
    settings: KeySettings,
) -> None:
    keys.active_key(db, "ES256", now=T0)
    [first] = keys.rotate(db, "ES256", now=T0 + timedelta(days=1), actor="ops:token")

    [second] = keys.rotate(db, "ES256", now=T0 + timedelta(days=1, minutes=5), actor="ops:token")

    assert not second.created and second.kid == first.kid
    with db.transaction() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == keys.ROTATED)).all()
        assert [(entry.actor, entry.details["kid"], entry.details["alg"]) for entry in entries] == [
            ("ops:token", first.kid, "ES256")
        ]
        assert not any(name in json.dumps(entries[0].details) for name in ('"d"', "private"))


def test_a_chain_rotated_again_later_retires_only_its_current_key(settings: KeySettings) -> None:
    first_kid, _ = keys.active_key(db, "ES256", now=T0)
    [second] = keys.rotate(db, "ES256", now=T0 + timedelta(days=30))
    [third] = keys.rotate(db, "ES256", now=T0 + timedelta(days=60))

    first, middle = stored(first_kid), stored(second.kid)
    assert first.retired_at is not None and keys.as_utc(first.retired_at) == second.signs_from
    assert middle.retired_at is not None and keys.as_utc(middle.retired_at) == third.signs_from
    assert third.previous == (second.kid,)
    assert kids(jwks_at(T0 + timedelta(days=61))) == {second.kid, third.kid}


def test_the_signing_key_is_created_once_on_first_use(settings: KeySettings) -> None:
    first = keys.active_key(db, "ES256")
    keys.forget_cached()
    again = keys.active_key(db, "ES256")

    assert first[0] == again[0]
    assert [record.kid for record in keys.list_keys(db)] == [first[0]]


def test_concurrent_first_uses_and_rotations_make_one_key_each(
    settings: KeySettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Race-safe across processes: the chain lock (BEGIN IMMEDIATE, or a PostgreSQL advisory lock)
    serializes writers; the in-process lock is taken out of the way to stand for separate processes."""
    monkeypatch.setattr(keys, "_lock", contextlib.nullcontext())

    def at_once(work: Callable[[], T], times: int = 4) -> list[T]:
        with ThreadPoolExecutor(times) as pool:
            return [future.result() for future in [pool.submit(work) for _ in range(times)]]

    at_once(lambda: keys._create_first(db, "ES256", T0, settings))
    assert len(keys.list_keys(db)) == 1

    rotations = at_once(lambda: keys.rotate(db, "ES256", now=T0 + timedelta(days=30)))

    created = [rotation for result in rotations for rotation in result if rotation.created]
    assert len(created) == 1 and len(keys.list_keys(db)) == 2


def test_the_cache_never_signs_with_a_key_before_its_signs_from(app: Flask, kek: bytes) -> None:
    """issue 5: the in-process cache switches at the successor's signs_from, not later or earlier."""
    keys.forget_cached()
    keys.configure(settings_with(kek, lead=timedelta(seconds=0.6)))
    old_kid, _ = keys.active_key(db, "ES256")
    [rotation] = keys.rotate(db, "ES256")
    seen: list[tuple[str, datetime]] = []

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        kid, _ = keys.active_key(db, "ES256")
        seen.append((kid, datetime.now(UTC)))
        if kid == rotation.kid:
            break
        time.sleep(0.01)

    assert seen[0][0] == old_kid and seen[-1][0] == rotation.kid
    assert all(moment >= rotation.signs_from for kid, moment in seen if kid == rotation.kid)
    # The old key signed up to the switch, not past it (a few ms of clock granularity allowed).
    assert all(
        moment < rotation.signs_from + timedelta(milliseconds=100) for kid, moment in seen if kid == old_kid
    )
    keys.forget_cached()


# --- schedule -------------------------------------------------------------------------------------------


def test_rotate_if_due_starts_missing_chains_and_rotates_only_when_due(settings: KeySettings) -> None:
    started = keys.rotate_if_due(db, T0)
    assert {(rotation.alg, rotation.created, rotation.signs_from) for rotation in started} == {
        ("ES256", True, T0),
        ("RS256", True, T0),
    }

    assert keys.rotate_if_due(db, T0 + timedelta(days=29)) == []

    due = keys.rotate_if_due(db, T0 + timedelta(days=31))
    assert {rotation.alg for rotation in due} == {"ES256", "RS256"}
    assert all(rotation.created and rotation.signs_from == T0 + timedelta(days=31) + LEAD for rotation in due)
    # A successor is pending: nothing more to do, even though the signing key is still old.
    assert keys.rotate_if_due(db, T0 + timedelta(days=31, minutes=10)) == []
    with db.transaction() as session:
        actors = session.scalars(select(AuditEntry.actor).where(AuditEntry.action == keys.ROTATED)).all()
        assert set(actors) == {"ops:schedule"}


# --- KEK rotation ---------------------------------------------------------------------------------------


def test_reseal_moves_every_key_to_the_new_kek(settings: KeySettings, kek: bytes) -> None:
    """issue 5: the KEK itself rotates: "new,old" opens both, reseal, then "new" alone."""
    es_kid, _ = keys.active_key(db, "ES256", now=T0)
    rs_kid, _ = keys.active_key(db, "RS256", now=T0)
    new = secrets.token_bytes(32)
    ring = settings_with(new, kek)

    assert keys.reseal(db, settings=ring) == (2, 0)
    assert keys.reseal(db, settings=ring) == (0, 2)  # idempotent

    keys.forget_cached()
    assert keys.check_unsealable(db, now=T0, settings=settings_with(new)) == 2
    assert {record.sealing for record in keys.list_keys(db)} == {keys.kek_fingerprint(new)}
    keys.forget_cached()
    with pytest.raises(KeyUnavailable):
        keys.check_unsealable(db, now=T0, settings=settings_with(kek))  # the old KEK no longer opens them
    assert {es_kid, rs_kid} == {record.kid for record in keys.list_keys(db)}
