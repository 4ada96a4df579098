"""Access token verification (issue 5, item 5: "services trust tokens, not headers").

Each refusal in the issue's negative list is here: wrong audience at a service, `alg: none`, an HS256
token signed with the public key, a token from a key that is not (or no longer) published; and the
checks RFC 9068 asks of a resource server: issuer, type at+jwt, expiry with a small clock skew.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from polis.auth import InvalidToken, JwksCache, KeysUnavailable, TokenVerifier, http_jwks, parse_jwks
from polis.testing.tokens import TestIssuer
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

AUDIENCE = "urn:polis:istanze"


class CountingSource:
    """A JWKS source that counts its fetches; `document` can change to play a key rotation."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.calls = 0
        self.fail = False

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.fail:
            raise KeysUnavailable()
        return self.document


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture
def source(issuer: TestIssuer) -> CountingSource:
    return CountingSource(issuer.jwks())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(issuer: TestIssuer, source: CountingSource, clock: Clock) -> TokenVerifier:
    keys = JwksCache(source, max_age=300, min_refresh_interval=30, clock=clock)
    return TokenVerifier(issuer=issuer.issuer, audience=AUDIENCE, keys=keys, clock_skew=60)


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token)
    assert caught.value.status == 401 and caught.value.code == "invalid_token"
    return caught.value.message


# --- what a good token gives ----------------------------------------------------------------------------


def test_a_users_token_gives_its_principal(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    token = issuer.token(audience=[AUDIENCE, "urn:polis:enablement"], roles=["user", "security_officer"])

    principal = verifier.verify(token)

    assert principal.subject == "3f7c1b9e-5a1d-4c1e-9a44-000000000001"
    assert principal.client_id == "portal"
    assert principal.scopes == {"openid", "profile", "email", "iam", "enablement", "istanze"}
    assert principal.roles == {"user", "security_officer"}
    assert principal.is_user and principal.kind == "user"
    assert principal.auth_time is not None
    assert principal.claims["sid"] == "sso-1"


def test_a_client_credentials_token_is_a_service_principal(
    issuer: TestIssuer, verifier: TokenVerifier
) -> None:
    token = issuer.token(
        audience=AUDIENCE, sub="batch-jobs", client_id="batch-jobs", auth_time=None, sid=None, roles=["ops"]
    )

    principal = verifier.verify(token)

    assert principal.kind == "service" and not principal.is_user
    assert principal.roles == {"ops"}


def test_rs256_tokens_are_accepted_too(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    assert verifier.verify(issuer.token(audience=AUDIENCE, alg="RS256")).client_id == "portal"


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt"])
def test_the_access_token_type_is_matched_without_regard_to_case(
    issuer: TestIssuer, verifier: TokenVerifier, typ: str
) -> None:
    assert verifier.verify(issuer.sign(issuer.claims(audience=AUDIENCE), typ=typ)).subject


def test_a_single_string_audience_is_accepted(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    claims = issuer.claims(audience=AUDIENCE)
    claims["aud"] = AUDIENCE

    assert verifier.verify(issuer.sign(claims)).subject


# --- refusals --------------------------------------------------------------------------------------------


def test_a_token_for_another_service_is_refused(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    """Issue 5 negative list: wrong audience at a service."""
    assert "not meant for this service" in refused(verifier, issuer.token(audience="urn:polis:enablement"))


def test_a_token_from_another_issuer_is_refused(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    token = issuer.token(audience=AUDIENCE, iss="http://evil.example")

    assert "another issuer" in refused(verifier, token)


def test_an_expired_token_is_refused_beyond_the_clock_skew(
    issuer: TestIssuer, verifier: TokenVerifier
) -> None:
    now = int(time.time())
    token = issuer.token(audience=AUDIENCE, iat=now - 1000, exp=now - 61)

    assert "expired" in refused(verifier, token)


def test_a_token_expired_within_the_clock_skew_still_passes(
    issuer: TestIssuer, verifier: TokenVerifier
) -> None:
    now = int(time.time())

    assert verifier.verify(issuer.token(audience=AUDIENCE, iat=now - 900, exp=now - 30)).subject


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_a_token_from_the_future_is_refused(issuer: TestIssuer, verifier: TokenVerifier, claim: str) -> None:
    later = int(time.time()) + 600

    assert "not valid yet" in refused(
        verifier, issuer.token(audience=AUDIENCE, **{claim: later}, exp=later + 900)
    )


def test_alg_none_is_refused(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    """Issue 5 negative list: `alg: none`."""
    token = issuer.sign(issuer.claims(audience=AUDIENCE), alg="none", kid=issuer.ec.kid)

    assert "algorithm" in refused(verifier, token)


def test_hs256_signed_with_the_public_key_is_refused(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    """Issue 5 negative list: an HS256 token whose secret is the issuer's published key."""
    assert "algorithm" in refused(verifier, issuer.sign(issuer.claims(audience=AUDIENCE), alg="HS256"))


def test_an_algorithm_that_does_not_match_the_key_is_refused(
    issuer: TestIssuer, verifier: TokenVerifier
) -> None:
    token = issuer.sign(issuer.claims(audience=AUDIENCE), alg="ES256", kid=issuer.rsa.kid)

    assert "does not match" in refused(verifier, token)


def test_an_id_token_is_not_an_access_token(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    """RFC 9068 section 4: typ "JWT" (what ID tokens carry) is refused, and so is no typ at all."""
    assert "not an access token" in refused(
        verifier, issuer.sign(issuer.claims(audience=AUDIENCE), typ="JWT")
    )
    assert "not an access token" in refused(verifier, issuer.sign(issuer.claims(audience=AUDIENCE), typ=None))


def test_a_changed_payload_breaks_the_signature(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    header, _payload, signature = issuer.token(audience=AUDIENCE).split(".")
    forged = issuer.claims(audience=AUDIENCE, roles=["user", "security_officer"])
    import base64

    body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()

    assert "signature" in refused(verifier, f"{header}.{body}.{signature}")


@pytest.mark.parametrize("claim", ["sub", "client_id", "jti", "exp", "iat"])
def test_a_token_without_a_required_claim_is_refused(
    issuer: TestIssuer, verifier: TokenVerifier, claim: str
) -> None:
    refused(verifier, issuer.token(audience=AUDIENCE, **{claim: None}))


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d.e", "%%%.e30.sig", "x" * 9000])
def test_garbage_is_refused(verifier: TokenVerifier, token: str) -> None:
    refused(verifier, token)


def test_roles_and_scope_must_be_well_formed(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    refused(verifier, issuer.token(audience=AUDIENCE, roles="ops"))
    refused(verifier, issuer.token(audience=AUDIENCE, scope=["istanze"]))


# --- keys -----------------------------------------------------------------------------------------------


def test_an_unknown_key_id_refreshes_the_keys_once_then_refuses(
    issuer: TestIssuer, verifier: TokenVerifier, source: CountingSource, clock: Clock
) -> None:
    """Issue 5 negative list: a token from a key that is not published (a forger's or one rotated out)."""
    verifier.verify(issuer.token(audience=AUDIENCE))
    assert source.calls == 1
    clock.now += 31  # past the refresh interval that began with the first fetch

    assert "does not publish" in refused(verifier, issuer.unpublished_token(audience=AUDIENCE))
    assert source.calls == 2
    # Within the refresh interval, more unknown key ids do not reach IAM again.
    refused(verifier, issuer.unpublished_token(audience=AUDIENCE))
    assert source.calls == 2


def test_a_key_published_after_the_last_fetch_is_found_by_the_refresh(
    issuer: TestIssuer, verifier: TokenVerifier, source: CountingSource, clock: Clock
) -> None:
    verifier.verify(issuer.token(audience=AUDIENCE))
    rotated = TestIssuer(issuer.issuer)
    source.document = {"keys": issuer.jwks()["keys"] + rotated.jwks()["keys"]}
    clock.now += 31

    assert verifier.verify(rotated.token(audience=AUDIENCE)).subject
    assert source.calls == 2


def test_a_key_removed_from_the_jwks_stops_verifying_after_the_max_age(
    issuer: TestIssuer, verifier: TokenVerifier, source: CountingSource, clock: Clock
) -> None:
    token = issuer.token(audience=AUDIENCE)
    verifier.verify(token)
    source.document = {"keys": []}
    clock.now += 301

    refused(verifier, token)
    assert source.calls == 2


def test_the_last_keys_stay_in_use_while_iam_does_not_answer(
    issuer: TestIssuer, verifier: TokenVerifier, source: CountingSource, clock: Clock
) -> None:
    token = issuer.token(audience=AUDIENCE)
    verifier.verify(token)
    source.fail = True
    clock.now += 301

    assert verifier.verify(token).subject
    assert source.calls == 2


def test_no_keys_at_all_is_a_503_not_a_401(issuer: TestIssuer, source: CountingSource, clock: Clock) -> None:
    source.fail = True
    verifier = TokenVerifier(
        issuer=issuer.issuer, audience=AUDIENCE, keys=JwksCache(source, clock=clock), clock_skew=60
    )

    with pytest.raises(KeysUnavailable) as caught:
        verifier.verify(issuer.token(audience=AUDIENCE))
    assert caught.value.status == 503
    # Asked again only after the refresh interval.
    with pytest.raises(KeysUnavailable):
        verifier.verify(issuer.token(audience=AUDIENCE))
    assert source.calls == 1


def test_only_public_signature_keys_of_the_pinned_types_are_used(issuer: TestIssuer) -> None:
    ec = issuer.ec.as_dict(private=False)
    document = {
        "keys": [
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {**issuer.ec.as_dict(private=True), "kid": "private"},
            {**ec, "kid": "encryption", "use": "enc"},
            {**ec, "kid": None},
            {"kty": "EC", "kid": "broken", "crv": "P-256", "x": "AA", "y": "AA"},
            {**ec, "kid": "good"},
        ]
    }

    assert list(parse_jwks(document)) == ["good"]


# --- fetching over HTTP ----------------------------------------------------------------------------------


@pytest.fixture
def jwks_server(issuer: TestIssuer) -> Iterator[str]:
    @Request.application
    def app(request: Request) -> Response:
        if request.path == "/oidc/jwks":
            return Response(json.dumps(issuer.jwks()), content_type="application/json")
        return Response("not json", status=500)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def test_the_jwks_is_fetched_from_iams_internal_address(issuer: TestIssuer, jwks_server: str) -> None:
    keys = JwksCache(http_jwks(f"{jwks_server}/oidc/jwks", timeout=2))

    assert keys.key(issuer.ec.kid) is not None
    assert keys.key(issuer.rsa.kid) is not None


@pytest.mark.parametrize("path", ["/broken"])
def test_a_jwks_endpoint_that_answers_garbage_means_no_keys(jwks_server: str, path: str) -> None:
    with pytest.raises(KeysUnavailable):
        http_jwks(f"{jwks_server}{path}", timeout=2)()


def test_an_unreachable_jwks_endpoint_means_no_keys() -> None:
    from polis.testing import free_port

    with pytest.raises(KeysUnavailable):
        http_jwks(f"http://127.0.0.1:{free_port()}/oidc/jwks", timeout=2)()
