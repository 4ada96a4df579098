"""The one TokenVerifier and JwksCache of polis.auth (issue 12 item 2), beyond test_auth_tokens.py: the
kinds of token the gateway and IAM verify with it (ID and logout tokens, IAM's own keys from a local
source), the algorithm allow-list at construction, a tampered signature, and the cache under threads."""

from __future__ import annotations

import base64
import threading
from typing import Any

import pytest
from polis.auth import InvalidToken, JwksCache, KeysUnavailable, TokenVerifier, static_jwks
from polis.testing.tokens import TestIssuer

AUDIENCE = "urn:polis:istanze"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SlowSource:
    """A key source that holds every fetch until released, counting the fetches (to race threads on it)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.calls = 0
        self.release = threading.Event()
        self._count = threading.Lock()

    def __call__(self) -> dict[str, Any]:
        with self._count:
            self.calls += 1
        self.release.wait(10)
        return self.document


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        verifier.claims(token)
    assert caught.value.status == 401
    return caught.value.message


# --- the allow-list ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithms", [("none",), ("HS256",), ("ES256", "HS256"), ()])
def test_a_verifier_cannot_be_configured_with_none_or_an_hmac(
    issuer: TestIssuer, algorithms: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError, match="algorithms"):
        TokenVerifier(
            issuer=issuer.issuer,
            audience=AUDIENCE,
            keys=JwksCache(static_jwks(issuer.jwks())),
            algorithms=algorithms,
        )


def test_an_rs256_token_is_refused_where_only_es256_is_expected(issuer: TestIssuer) -> None:
    keys = JwksCache(static_jwks(issuer.jwks()))
    verifier = TokenVerifier(issuer=issuer.issuer, audience=AUDIENCE, keys=keys, algorithms=("ES256",))

    assert "algorithm" in refused(verifier, issuer.token(audience=AUDIENCE, alg="RS256"))
    assert verifier.claims(issuer.token(audience=AUDIENCE))["sub"]


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_none_and_hmac_tokens_are_refused_even_with_no_type_checked(issuer: TestIssuer, alg: str) -> None:
    verifier = TokenVerifier(
        issuer=issuer.issuer,
        audience="portal",
        keys=JwksCache(static_jwks(issuer.jwks())),
        types=None,
        required=("sub",),
        kind="ID token",
    )
    token = issuer.sign(issuer.claims(audience="portal"), alg=alg, typ=None, kid=issuer.ec.kid)

    assert "algorithm is not accepted" in refused(verifier, token)


# --- signatures and claims --------------------------------------------------------------------------------


def test_a_tampered_signature_is_refused(issuer: TestIssuer) -> None:
    keys = JwksCache(static_jwks(issuer.jwks()))
    verifier = TokenVerifier(issuer=issuer.issuer, audience=AUDIENCE, keys=keys)
    header, payload, signature = issuer.token(audience=AUDIENCE).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[10] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()

    assert "signature is not valid" in refused(verifier, f"{header}.{payload}.{tampered}")


def test_an_id_token_profile_checks_audience_expiry_and_its_required_claims(issuer: TestIssuer) -> None:
    """The gateway's ID tokens: no type checked, the client as audience, a nonce required."""
    clock = Clock()
    verifier = TokenVerifier(
        issuer=issuer.issuer,
        audience="portal",
        keys=JwksCache(static_jwks(issuer.jwks()), clock=clock),
        clock_skew=60,
        clock=clock,
        algorithms=("ES256",),
        types=None,
        required=("sub", "nonce"),
        kind="ID token",
    )
    now = int(clock.now)
    good = issuer.claims(audience="portal", iat=now, exp=now + 300, nonce="n-1")

    assert verifier.claims(issuer.sign(good, typ="JWT"))["nonce"] == "n-1"
    assert verifier.claims(issuer.sign(good, typ=None))["nonce"] == "n-1"
    assert "not meant for this service" in refused(verifier, issuer.sign({**good, "aud": ["pagoinrete"]}))
    assert "has no nonce" in refused(verifier, issuer.sign({k: v for k, v in good.items() if k != "nonce"}))
    assert "ID token has expired" in refused(verifier, issuer.sign({**good, "exp": now - 61}))


def test_a_logout_token_profile_requires_its_type(issuer: TestIssuer) -> None:
    verifier = TokenVerifier(
        issuer=issuer.issuer,
        audience="portal",
        keys=JwksCache(static_jwks(issuer.jwks())),
        types=("logout+jwt", "application/logout+jwt"),
        required=("sid",),
        kind="logout token",
    )
    claims = issuer.claims(audience="portal")

    assert verifier.claims(issuer.sign(claims, typ="logout+jwt"))["sid"] == "sso-1"
    assert "not a logout token (typ logout+jwt)" in refused(verifier, issuer.sign(claims, typ="JWT"))
    assert "not a logout token" in refused(verifier, issuer.sign(claims, typ="at+jwt"))


def test_iams_local_key_source_verifies_without_http_and_for_any_audience(issuer: TestIssuer) -> None:
    """IAM plugs its own key table in (a callable, no HTTP to itself); introspection answers for every API,
    so its verifier has no audience of its own, and its own clock has no skew."""
    reads: list[int] = []

    def own_keys() -> dict[str, Any]:
        reads.append(1)
        return issuer.jwks()

    verifier = TokenVerifier(
        issuer=issuer.issuer, audience=None, keys=JwksCache(own_keys, min_refresh_interval=0), clock_skew=0
    )

    assert verifier.claims(issuer.token(audience="urn:polis:enablement"))["client_id"] == "portal"
    assert verifier.claims(issuer.token(audience="urn:polis:notifier"))["client_id"] == "portal"
    assert len(reads) == 1
    assert "another issuer" in refused(verifier, issuer.token(audience=AUDIENCE, iss="http://evil.example"))


def test_an_expired_id_token_hint_still_proves_who_signed_it_when_times_are_not_checked(
    issuer: TestIssuer,
) -> None:
    """IAM's logout takes an expired ID token as its hint; its signature and issuer must still be right."""
    verifier = TokenVerifier(
        issuer=issuer.issuer,
        audience=None,
        keys=JwksCache(static_jwks(issuer.jwks())),
        types=None,
        required=(),
        kind="ID token",
        check_times=False,
    )
    expired = issuer.claims(audience="portal", iat=1000, exp=1300)

    assert verifier.claims(issuer.sign(expired, typ="JWT"))["exp"] == 1300
    assert "another issuer" in refused(verifier, issuer.sign({**expired, "iss": "http://evil.example"}))
    assert "does not publish" in refused(verifier, issuer.unpublished_token(audience="portal"))


# --- the cache --------------------------------------------------------------------------------------------


def test_unknown_key_ids_refetch_once_per_interval(issuer: TestIssuer) -> None:
    clock = Clock()
    calls: list[int] = []

    def source() -> dict[str, Any]:
        calls.append(1)
        return issuer.jwks()

    keys = JwksCache(source, max_age=300, min_refresh_interval=30, clock=clock)
    assert keys.key(str(issuer.ec.kid)) is not None
    assert len(calls) == 1

    clock.now += 31
    for made_up in ("forged-1", "forged-2", "forged-3"):
        assert keys.key(made_up) is None
    assert len(calls) == 2  # one refresh for the first unknown id, none for the others

    clock.now += 29
    assert keys.key("forged-4") is None
    assert len(calls) == 2  # still within the interval
    clock.now += 1
    assert keys.key("forged-5") is None
    assert len(calls) == 3
    assert keys.key(str(issuer.ec.kid)) is not None and len(calls) == 3


def test_threads_share_one_fetch_of_the_keys(issuer: TestIssuer) -> None:
    source = SlowSource(issuer.jwks())
    verifier = TokenVerifier(issuer=issuer.issuer, audience=AUDIENCE, keys=JwksCache(source))
    token = issuer.token(audience=AUDIENCE)
    outcomes: list[str] = []
    record = threading.Lock()

    def verify() -> None:
        subject = verifier.verify(token).subject
        with record:
            outcomes.append(subject)

    threads = [threading.Thread(target=verify) for _ in range(12)]
    for thread in threads:
        thread.start()
    source.release.set()
    for thread in threads:
        thread.join(10)

    assert len(outcomes) == 12 and len(set(outcomes)) == 1
    assert source.calls == 1


def test_threads_with_unknown_key_ids_make_one_refresh(issuer: TestIssuer) -> None:
    clock = Clock()
    source = SlowSource(issuer.jwks())
    source.release.set()
    keys = JwksCache(source, min_refresh_interval=30, clock=clock)
    assert keys.key(str(issuer.ec.kid)) is not None
    clock.now += 31
    source.release.clear()
    found: list[object] = []

    def look_up(n: int) -> None:
        found.append(keys.key(f"forged-{n}"))

    threads = [threading.Thread(target=look_up, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    source.release.set()
    for thread in threads:
        thread.join(10)

    assert found == [None] * 8
    assert source.calls == 2


def test_a_source_that_fails_at_first_is_a_503_for_every_kind(issuer: TestIssuer) -> None:
    def down() -> dict[str, Any]:
        raise KeysUnavailable()

    verifier = TokenVerifier(
        issuer=issuer.issuer, audience="portal", keys=JwksCache(down), types=None, kind="ID token"
    )

    with pytest.raises(KeysUnavailable):
        verifier.claims(issuer.token(audience="portal"))
