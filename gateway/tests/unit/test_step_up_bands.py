"""The per-address credential bands (gateway/stepup.py, issue 13 item 4): forwarded, proof-of-work step-up,
blocked; the proof single use, bound to its address, expiring; the defaults sized for a school's network."""

from __future__ import annotations

import time

import pytest
from gateway.config import load_settings
from gateway.stepup import CredentialGuard, form_home, solve
from limits import parse_many


def guard(**overrides) -> CredentialGuard:
    config = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_AUTHENTICATION": "2 per minute",
        "RATELIMIT_AUTHENTICATION_BLOCK": "5 per minute",
        "RATELIMIT_STEP_UP_TTL": 60,
        "RATELIMIT_STEP_UP_MAX_NUMBER": 2000,
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_KEY_PREFIX": "test",
        "SECRET_KEY": "unit-test-secret",
        **overrides,
    }
    return CredentialGuard(config)


def per_ten_minutes(limits: str) -> float:
    """The most attempts the limits let through in 10 minutes at an even pace."""
    return min(item.amount * 600 / item.get_expiry() for item in parse_many(limits))


def test_the_defaults_let_300_logins_from_one_address_in_10_minutes_through_without_a_block():
    settings = load_settings({"POLIS_ENV": "test"})
    # Every login, with a retyped password for one in three users, below the hard limit...
    assert per_ten_minutes(settings["RATELIMIT_AUTHENTICATION_BLOCK"]) >= 400
    # ... and each of its ~8 requests (portal, authorization, form, step-up check, post, code, callback,
    # home) below the general limit.
    assert per_ten_minutes(settings["RATELIMIT_DEFAULT"]) >= 300 * 8
    # The step-up starts well before the block: a home or a small office never meets either.
    soft, block = (
        parse_many(settings[k]) for k in ("RATELIMIT_AUTHENTICATION", "RATELIMIT_AUTHENTICATION_BLOCK")
    )
    assert 10 <= soft[0].amount * 10 <= block[0].amount


def test_the_bands_are_configurable():
    settings = load_settings(
        {
            "POLIS_ENV": "test",
            "GATEWAY_RATELIMIT_AUTHENTICATION": "7 per minute",
            "GATEWAY_RATELIMIT_AUTHENTICATION_BLOCK": "70 per minute",
            "GATEWAY_RATELIMIT_STEP_UP_TTL": "90",
            "GATEWAY_RATELIMIT_STEP_UP_MAX_NUMBER": "5000",
        }
    )
    assert settings["RATELIMIT_AUTHENTICATION"] == "7 per minute"
    assert settings["RATELIMIT_AUTHENTICATION_BLOCK"] == "70 per minute"
    assert (settings["RATELIMIT_STEP_UP_TTL"], settings["RATELIMIT_STEP_UP_MAX_NUMBER"]) == (90, 5000)


def test_beyond_the_soft_threshold_an_attempt_needs_a_solved_challenge():
    bands = guard()
    assert [bands.attempt("198.51.100.7", None).band for _ in range(3)] == ["pass", "pass", "step_up"]
    assert bands.required("198.51.100.7")
    assert not bands.required("198.51.100.8")  # another address is not concerned

    proof = solve(bands.challenge("198.51.100.7"))

    assert bands.attempt("198.51.100.7", proof).band == "pass"


def test_a_proof_is_accepted_once():
    bands = guard(RATELIMIT_AUTHENTICATION="1 per minute")
    bands.attempt("198.51.100.7", None)
    proof = solve(bands.challenge("198.51.100.7"))
    assert bands.attempt("198.51.100.7", proof).band == "pass"
    assert bands.attempt("198.51.100.7", proof).band == "step_up"


def test_a_proof_is_bound_to_the_address_that_fetched_the_challenge():
    bands = guard(RATELIMIT_AUTHENTICATION="1 per minute")
    bands.attempt("198.51.100.9", None)
    stolen = solve(bands.challenge("198.51.100.7"))
    assert bands.attempt("198.51.100.9", stolen).band == "step_up"


def test_an_expired_or_forged_proof_is_refused():
    bands = guard(RATELIMIT_AUTHENTICATION="1 per minute", RATELIMIT_STEP_UP_TTL=-1)
    bands.attempt("198.51.100.7", None)
    expired = solve(bands.challenge("198.51.100.7"))
    assert bands.attempt("198.51.100.7", expired).band == "step_up"

    other_key = guard(SECRET_KEY="another-gateway")
    forged = solve(other_key.challenge("198.51.100.7"))
    assert bands.attempt("198.51.100.7", forged).band == "step_up"
    assert bands.attempt("198.51.100.7", "not base64 at all").band == "step_up"


def test_beyond_the_hard_limit_the_address_waits_for_the_windows_reset():
    bands = guard(RATELIMIT_AUTHENTICATION_BLOCK="3 per minute; 100 per hour")
    for _ in range(3):
        bands.attempt("198.51.100.7", solve(bands.challenge("198.51.100.7")))

    decision = bands.attempt("198.51.100.7", solve(bands.challenge("198.51.100.7")))

    assert decision.band == "blocked"
    assert 55 <= decision.retry_after <= 61  # the minute window's reset, not "a few minutes"
    assert bands.attempt("198.51.100.8", None).band == "pass"


def test_the_hour_window_gives_the_wait_when_it_is_the_one_exceeded():
    bands = guard(RATELIMIT_AUTHENTICATION="100 per hour", RATELIMIT_AUTHENTICATION_BLOCK="2 per hour")
    started = time.time()
    bands.attempt("198.51.100.7", None)
    bands.attempt("198.51.100.7", None)
    decision = bands.attempt("198.51.100.7", None)
    assert decision.band == "blocked"
    assert 3600 - (time.time() - started) - 2 <= decision.retry_after <= 3601


def test_with_rate_limits_disabled_every_attempt_passes():
    bands = guard(RATELIMIT_ENABLED=False)
    assert {bands.attempt("198.51.100.7", None).band for _ in range(10)} == {"pass"}


@pytest.mark.parametrize(
    ("path", "referrer", "back"),
    [
        ("/iam/accedi", None, "/accedi"),
        ("/iam/accedi", "http://portal.test/iam/accedi?txn=abc", "/iam/accedi?txn=abc"),
        ("/iam/accedi", "https://elsewhere.example/iam/accedi", "/accedi"),
        # the login form the authorization endpoint shows (issue 18): back to that same request
        ("/iam/accedi", "http://portal.test/oidc/authorize?client_id=x", "/oidc/authorize?client_id=x"),
        ("/iam/accedi", "http://portal.test/oidc/token", "/accedi"),
        ("/iam/registrazione/step5", None, "/iam/registrazione"),
        ("/iam/password-dimenticata", None, "/iam/password-dimenticata"),
        ("/iam/recupero-username", "http://portal.test/area-personale", "/iam/recupero-username"),
    ],
)
def test_the_way_back_leads_to_the_form_on_this_site(path, referrer, back):
    assert form_home(path, referrer, "portal.test") == back
