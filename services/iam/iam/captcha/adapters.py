"""The captcha adapters: each makes challenges for its widget and checks a response, without state.

Single use is enforced by `iam.captcha.service.verify`, which records what an adapter accepted.
"""

from __future__ import annotations

import json
import logging
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import altcha
from polis.config import Secret

log = logging.getLogger("iam.captcha")

RECAPTCHA_VERIFY_URL = "https://www.google.com/recaptcha/api/siteverify"
TEST_PASS_PREFIX = "test-pass-"  # noqa: S105 - the test adapter accepts exactly these responses, once each


@dataclass(frozen=True)
class Verdict:
    """What an adapter concluded: `key` identifies the solution for replay checks, kept until `expires_at`."""

    ok: bool
    key: str = ""
    expires_at: datetime | None = None


class CaptchaAdapter(Protocol):
    kind: str

    def challenge(self) -> dict[str, Any]:
        """What the widget needs to start (JSON-serialisable)."""

    def check(self, response: str) -> Verdict:
        """Whether `response` (the widget's form value) solves a challenge of ours that has not expired."""


class AltchaAdapter:
    """Self-hosted proof of work: no third party sees the users (ALTCHA v1 challenges, SHA-256)."""

    kind = "altcha"

    def __init__(self, *, hmac_key: Secret, ttl: timedelta, max_number: int) -> None:
        self._key = hmac_key
        self._ttl = ttl
        self._max_number = max_number

    def challenge(self) -> dict[str, Any]:
        options = altcha.ChallengeOptionsV1(
            algorithm="SHA-256",
            hmac_key=self._key.reveal(),
            max_number=self._max_number,
            expires=datetime.now(UTC) + self._ttl,
        )
        challenge = altcha.create_challenge_v1(options)
        return challenge.to_dict()

    def check(self, response: str) -> Verdict:
        try:
            ok, _error = altcha.verify_solution_v1(response, self._key.reveal(), check_expires=True)
            if not ok:
                return Verdict(False)
            payload = altcha.PayloadV1.from_base64(response)
            _nonce, expires, _params = payload.parse_salt()
        except (ValueError, TypeError, KeyError, AttributeError):
            return Verdict(False)
        if expires is None:  # every challenge of ours expires: one without is not ours
            return Verdict(False)
        return Verdict(True, key=payload.signature, expires_at=datetime.fromtimestamp(expires, UTC))


class RecaptchaAdapter:
    """Google reCAPTCHA v2, verified by an HTTPS POST; Google itself refuses a token used twice."""

    kind = "recaptcha"

    def __init__(self, *, site_key: str, secret: Secret, ttl: timedelta, timeout: float = 5.0) -> None:
        self.site_key = site_key
        self._secret = secret
        self._ttl = ttl
        self._timeout = timeout

    def challenge(self) -> dict[str, Any]:
        return {"site_key": self.site_key}

    def check(self, response: str) -> Verdict:
        body = urllib.parse.urlencode({"secret": self._secret.reveal(), "response": response}).encode()
        try:
            with urllib.request.urlopen(
                urllib.request.Request(RECAPTCHA_VERIFY_URL, data=body, method="POST"), timeout=self._timeout
            ) as answer:
                result = json.loads(answer.read())
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            log.warning("reCAPTCHA verification unavailable", extra={"error": type(exc).__name__})
            return Verdict(False)
        if not result.get("success"):
            return Verdict(False)
        return Verdict(True, key=response, expires_at=datetime.now(UTC) + self._ttl)


class FakeAdapter:
    """Deterministic, for POLIS_ENV=test only: `test-pass-<anything>` passes (once), anything else fails."""

    kind = "test"
    __test__ = False  # not a pytest test class, whatever it is imported as

    def __init__(self, *, ttl: timedelta) -> None:
        self._ttl = ttl

    def challenge(self) -> dict[str, Any]:
        return {"test": True, "response": TEST_PASS_PREFIX + secrets.token_hex(8)}

    def check(self, response: str) -> Verdict:
        if not response.startswith(TEST_PASS_PREFIX) or len(response) <= len(TEST_PASS_PREFIX):
            return Verdict(False)
        return Verdict(True, key=response, expires_at=datetime.now(UTC) + self._ttl)


# The name other areas' tests use.
TestAdapter = FakeAdapter


def adapter_from_settings(settings: Mapping[str, Any]) -> CaptchaAdapter:
    """The adapter the settings choose (IAM_CAPTCHA); config.py already refused `test` outside tests."""
    ttl = timedelta(seconds=settings["CAPTCHA_TTL_SECONDS"])
    kind = settings["CAPTCHA"]
    if kind == "recaptcha":
        return RecaptchaAdapter(
            site_key=settings["RECAPTCHA_SITE_KEY"], secret=settings["RECAPTCHA_SECRET"], ttl=ttl
        )
    if kind == "test":
        if settings.get("POLIS_ENV") != "test":
            raise RuntimeError("the test captcha is only allowed with POLIS_ENV=test")
        return FakeAdapter(ttl=ttl)
    return AltchaAdapter(
        hmac_key=settings["CAPTCHA_HMAC_KEY"], ttl=ttl, max_number=settings["CAPTCHA_ALTCHA_MAX_NUMBER"]
    )
