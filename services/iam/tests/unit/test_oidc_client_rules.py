"""The client registry's rules without a database (issue 5, item 1): settings refused with a clear message,
secrets checked in constant time with the previous one in its grace period, the consent links."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from iam.clients import service as clients
from iam.clients.service import (
    Client,
    ClientSettings,
    InvalidClientSettings,
    check_settings,
    hash_client_secret,
)
from iam.oidc import consent

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def settings(**changes: Any) -> ClientSettings:
    base = ClientSettings(
        client_id="partner",
        name="Partner",
        redirect_uris=["https://partner.example/cb"],
        post_logout_redirect_uris=["https://partner.example/"],
    )
    return dataclasses.replace(base, **changes)


def refused(changes: dict[str, Any], *, confidential: bool = True) -> InvalidClientSettings:
    with pytest.raises(InvalidClientSettings) as caught:
        check_settings(settings(**changes), confidential=confidential)
    return caught.value


def client(**changes: Any) -> Client:
    base = Client(
        client_id="partner",
        name="Partner",
        secret_hash=hash_client_secret("current-secret-0123456789"),
        redirect_uris=["https://partner.example/cb"],
        post_logout_redirect_uris=[],
        grant_types=["authorization_code"],
        scopes=["openid", "profile", "email"],
        trusted=False,
    )
    return dataclasses.replace(base, **changes)


# --- settings ---------------------------------------------------------------------------------------------


def test_defaults_make_a_valid_client_with_the_model_defaults() -> None:
    columns = check_settings(settings(), confidential=True)

    assert columns["grant_types"] == ["authorization_code", "refresh_token"]
    assert columns["scopes"] == ["openid", "profile", "email"]
    assert columns["audiences"] == []  # no API scope: no API audience
    assert (columns["access_token_ttl"], columns["id_token_alg"], columns["trusted"]) == (900, "ES256", True)


def test_audiences_default_to_those_of_the_api_scopes() -> None:
    columns = check_settings(settings(scopes=["openid", "istanze", "iam", "istanze"]), confidential=True)

    assert columns["scopes"] == ["openid", "istanze", "iam"]  # duplicates dropped, order kept
    assert columns["audiences"] == ["urn:polis:istanze", "urn:polis:iam"]


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("http://partner.example/cb", "http is allowed only on localhost and 127.0.0.1"),
        ("https://partner.example/cb#top", "fragment"),
        ("https://*.partner.example/cb", "wildcard"),
        ("https://partner.example/*", "wildcard"),
        ("javascript:alert(1)", "not an absolute http(s) URI"),
        ("/relative/cb", "not an absolute http(s) URI"),
        ("https://user:pw@partner.example/cb", "user info"),
        ("https://partner.example/c b", "spaces"),
        ("https://partner.example:99999/cb", "bad host or port"),
        ("http://localhost.attacker.example/cb", "http is allowed only on"),
    ],
)
def test_issue_5_item_1_redirect_uris_must_be_exact_absolute_https(uri: str, problem: str) -> None:
    error = refused({"redirect_uris": [uri]})

    assert error.field == "redirect_uris"
    assert problem in str(error)


@pytest.mark.parametrize("uri", ["http://localhost:8090/auth/callback", "http://127.0.0.1:8080/cb"])
def test_http_is_allowed_on_the_loopback_hosts_only(uri: str) -> None:
    assert check_settings(settings(redirect_uris=[uri]), confidential=True)["redirect_uris"] == [uri]


def test_post_logout_and_backchannel_uris_follow_the_same_rules() -> None:
    assert (
        refused({"post_logout_redirect_uris": ["https://p.example/#x"]}).field == "post_logout_redirect_uris"
    )
    assert refused({"backchannel_logout_uri": "http://p.example/bc"}).field == "backchannel_logout_uri"
    accepted = check_settings(settings(backchannel_logout_uri="http://localhost:8090/bc"), confidential=True)
    assert accepted["backchannel_logout_uri"] == "http://localhost:8090/bc"


def test_issue_5_item_1_a_public_client_cannot_use_client_credentials() -> None:
    error = refused({"grant_types": ["authorization_code", "client_credentials"]}, confidential=False)

    assert error.field == "grant_types"
    assert "public client" in str(error)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"client_id": "part ner"}, "client_id", "letters, digits"),
        ({"client_id": "è" * 3}, "client_id", "letters, digits"),
        ({"name": "  "}, "name", "1-120"),
        ({"grant_types": ["password"]}, "grant_types", "unsupported grant types password"),
        ({"grant_types": []}, "grant_types", "at least one"),
        ({"grant_types": ["refresh_token", "client_credentials"]}, "grant_types", "needs authorization_code"),
        ({"scopes": ["profile", "email"]}, "scopes", "openid"),
        ({"scopes": ["openid", "admin"]}, "scopes", "unsupported scopes admin"),
        ({"redirect_uris": []}, "redirect_uris", "at least one redirect URI"),
        ({"redirect_uris": [f"https://p.example/{n}" for n in range(21)]}, "redirect_uris", "at most 20"),
        (
            {"scopes": ["openid", "istanze"], "audiences": []},
            "audiences",
            "needs the audience urn:polis:istanze",
        ),
        ({"audiences": ["urn:polis:istanze"]}, "audiences", "needs the API scope istanze"),
        ({"audiences": ["https://api.example"]}, "audiences", "not a URN"),
        ({"service_roles": ["ops"]}, "service_roles", "client_credentials"),
        ({"access_token_ttl": 59}, "access_token_ttl", "from 60 to 3600"),
        ({"access_token_ttl": 3601}, "access_token_ttl", "from 60 to 3600"),
        ({"refresh_token_ttl": 299}, "refresh_token_ttl", "from 300"),
        ({"refresh_token_ttl": 31 * 24 * 3600}, "refresh_token_ttl", "from 300"),
        ({"refresh_family_ttl": 91 * 24 * 3600}, "refresh_family_ttl", "to 7776000"),
        ({"refresh_token_ttl": 7200, "refresh_family_ttl": 3600}, "refresh_family_ttl", "from 7200"),
        ({"access_token_ttl": True}, "access_token_ttl", "whole seconds"),
        ({"id_token_alg": "HS256"}, "id_token_alg", "ES256, RS256"),
        ({"id_token_alg": "none"}, "id_token_alg", "ES256, RS256"),
    ],
)
def test_issue_5_item_1_bad_settings_are_refused_with_a_clear_message(
    changes: dict[str, Any], field: str, words: str
) -> None:
    error = refused(changes)

    assert error.field == field
    assert words in str(error)


def test_a_client_credentials_client_acts_for_itself_with_api_scopes_only() -> None:
    service = {"grant_types": ["client_credentials"], "redirect_uris": [], "post_logout_redirect_uris": []}

    columns = check_settings(
        settings(**service, scopes=["iam", "istanze"], service_roles=["ops"]), confidential=True
    )
    identity = refused({**service, "scopes": ["openid", "istanze"]})
    with_redirect = refused({**service, "scopes": ["istanze"], "redirect_uris": ["https://p.example/cb"]})
    user_role = refused({**service, "scopes": ["istanze"], "service_roles": ["user"]})

    assert columns["audiences"] == ["urn:polis:iam", "urn:polis:istanze"]
    assert columns["service_roles"] == ["ops"]
    assert columns["redirect_uris"] == []
    assert identity.field == "scopes" and "API scopes only" in str(identity)
    assert with_redirect.field == "redirect_uris"
    assert user_role.field == "service_roles"


def test_free_urns_are_accepted_next_to_the_polis_audiences() -> None:
    columns = check_settings(
        settings(scopes=["openid", "iam"], audiences=["urn:polis:iam", "urn:partner:reports"]),
        confidential=True,
    )

    assert columns["audiences"] == ["urn:polis:iam", "urn:partner:reports"]


# --- secrets ----------------------------------------------------------------------------------------------


def test_only_the_current_secret_matches_without_a_rotation() -> None:
    partner = client()

    assert partner.check_client_secret("current-secret-0123456789")
    assert not partner.check_client_secret("current-secret-012345678")
    assert not partner.check_client_secret("")


def test_issue_5_item_1_the_previous_secret_works_only_within_its_grace_period() -> None:
    rotated = client(
        secret_hash=hash_client_secret("new-secret-0123456789"),
        previous_secret_hash=hash_client_secret("current-secret-0123456789"),
        previous_secret_expires_at=NOW + timedelta(minutes=10),
    )

    assert rotated.secret_matches("current-secret-0123456789", now=NOW)
    assert rotated.secret_matches("current-secret-0123456789", now=NOW + timedelta(minutes=9, seconds=59))
    assert not rotated.secret_matches("current-secret-0123456789", now=NOW + timedelta(minutes=10))
    assert rotated.secret_matches("new-secret-0123456789", now=NOW + timedelta(days=1))


def test_a_stored_naive_expiry_is_read_as_utc() -> None:
    rotated = client(
        previous_secret_hash=hash_client_secret("old-secret-0123456789"),
        previous_secret_expires_at=(NOW + timedelta(minutes=1)).replace(tzinfo=None),  # as SQLite gives it
    )

    assert rotated.secret_matches("old-secret-0123456789", now=NOW)
    assert not rotated.secret_matches("old-secret-0123456789", now=NOW + timedelta(minutes=2))


def test_a_secret_that_does_not_match_a_cached_copy_is_checked_against_the_row_again() -> None:
    fresh = client(secret_hash=hash_client_secret("rotated-elsewhere-0123456789"))
    cached = client(reload=lambda: fresh)

    assert cached.check_client_secret("rotated-elsewhere-0123456789")
    assert not cached.check_client_secret("never-valid-0123456789")


def test_a_public_client_matches_no_secret_and_authenticates_with_none_only() -> None:
    public = client(secret_hash=None)

    assert not public.check_client_secret("")
    assert public.check_endpoint_auth_method("none", "token")
    assert not public.check_endpoint_auth_method("client_secret_basic", "token")
    assert not public.confidential


def test_generated_secrets_are_long_and_random() -> None:
    first, second = clients.new_secret(), clients.new_secret()

    assert first != second and len(first) >= 43  # 32 bytes, URL-safe base64


def test_a_hash_never_contains_the_secret() -> None:
    assert "current-secret" not in hash_client_secret("current-secret-0123456789")


# --- consent helpers --------------------------------------------------------------------------------------


def test_a_trusted_client_never_needs_consent() -> None:
    # No database is touched for a trusted client: the source is never used.
    assert not consent.needs_consent(
        object(), "00000000-0000-0000-0000-000000000001", client(trusted=True), "openid"
    )  # type: ignore[arg-type]


def test_requested_scopes_keep_only_those_the_client_may_have() -> None:
    partner = client(scopes=["openid", "email"])

    assert consent.requested_scopes(partner, "openid profile email openid") == ["openid", "email"]
    assert consent.requested_scopes(partner, None) == []


def test_the_links_between_authorize_and_the_consent_page() -> None:
    authorize = "/oidc/authorize?client_id=partner&scope=openid+email&state=s"

    assert (
        consent.consent_url(authorize)
        == "/oidc/consent?next=%2Foidc%2Fauthorize%3Fclient_id%3Dpartner%26scope%3Dopenid%2Bemail%26state%3Ds"
    )
    denied = consent.denied_url(authorize + "&consent=whatever")
    assert denied == "/oidc/authorize?client_id=partner&scope=openid+email&state=s&consent=denied"
    assert consent.was_denied({"consent": "denied"}) and not consent.was_denied({})
    assert consent.without_decision(denied) == authorize
