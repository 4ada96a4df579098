"""The captcha adapters (issue 3 item 3): ALTCHA proof of work, the test fake, single use and expiry."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta

import altcha
import pytest
from iam.captcha import service
from iam.captcha.adapters import AltchaAdapter, FakeAdapter, adapter_from_settings
from iam.models import all_metadata
from polis.config import ConfigError, Env, Secret
from polis.db import Database

KEY = Secret("unit-test-key")


def solve(challenge: dict) -> str:
    """What the ALTCHA widget posts: the base64 JSON payload of a solved challenge."""
    solution = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxNumber"]
    )
    assert solution is not None
    payload = {
        "algorithm": challenge["algorithm"],
        "challenge": challenge["challenge"],
        "number": solution.number,
        "salt": challenge["salt"],
        "signature": challenge["signature"],
    }
    return base64.b64encode(json.dumps(payload).encode()).decode()


@pytest.fixture
def database() -> Iterator[Database]:
    database = Database("sqlite://")
    all_metadata().create_all(database.engine)
    yield database
    database.dispose()


def test_a_solved_altcha_challenge_passes_once_and_its_replay_is_refused(database: Database) -> None:
    adapter = AltchaAdapter(hmac_key=KEY, ttl=timedelta(minutes=5), max_number=1000)
    response = solve(adapter.challenge())

    with database.transaction() as session:
        first = service.verify(session, adapter=adapter, response=response)
    with database.transaction() as session:
        replay = service.verify(session, adapter=adapter, response=response)

    assert (first, replay) == (True, False)


def test_an_expired_altcha_challenge_is_refused(database: Database) -> None:
    adapter = AltchaAdapter(hmac_key=KEY, ttl=timedelta(seconds=-1), max_number=1000)

    with database.transaction() as session:
        assert service.verify(session, adapter=adapter, response=solve(adapter.challenge())) is False


def test_a_challenge_signed_with_another_key_or_a_wrong_number_is_refused() -> None:
    ours = AltchaAdapter(hmac_key=KEY, ttl=timedelta(minutes=5), max_number=1000)
    theirs = AltchaAdapter(hmac_key=Secret("other"), ttl=timedelta(minutes=5), max_number=1000)
    payload = json.loads(base64.b64decode(solve(ours.challenge())))
    payload["number"] += 1

    assert ours.check(solve(theirs.challenge())).ok is False
    assert ours.check(base64.b64encode(json.dumps(payload).encode()).decode()).ok is False
    assert ours.check("not base64 at all").ok is False


def test_the_fake_adapter_of_tests_is_deterministic_and_single_use(database: Database) -> None:
    adapter = FakeAdapter(ttl=timedelta(minutes=5))

    with database.transaction() as session:
        results = [
            service.verify(session, adapter=adapter, response="test-pass-1"),
            service.verify(session, adapter=adapter, response="test-pass-1"),
            service.verify(session, adapter=adapter, response="anything else"),
            service.verify(session, adapter=adapter, response=None),
        ]

    assert results == [True, False, False, False]


def test_the_test_captcha_cannot_be_configured_outside_tests() -> None:
    from iam.config import _registration_settings

    with pytest.raises(ConfigError):
        _registration_settings(Env({"POLIS_ENV": "dev", "IAM_CAPTCHA": "test"}))
    with pytest.raises(RuntimeError):
        adapter_from_settings({"CAPTCHA": "test", "POLIS_ENV": "production", "CAPTCHA_TTL_SECONDS": 60})


def test_recaptcha_needs_its_site_key_and_secret() -> None:
    from iam.config import _registration_settings

    with pytest.raises(ConfigError):
        _registration_settings(Env({"POLIS_ENV": "dev", "IAM_CAPTCHA": "recaptcha"}))
    settings = _registration_settings(
        Env(
            {
                "POLIS_ENV": "dev",
                "IAM_CAPTCHA": "recaptcha",
                "IAM_RECAPTCHA_SITE_KEY": "site",
                "IAM_RECAPTCHA_SECRET": "s",
            }
        )
    )
    adapter = adapter_from_settings({**settings, "POLIS_ENV": "dev"})
    assert adapter.kind == "recaptcha"
    assert adapter.challenge() == {"site_key": "site"}
