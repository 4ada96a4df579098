"""Findings of the security probe (issue 11) that have no better home: each test failed on the code before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam import create_app
from iam.extensions import db
from iam.models import all_metadata
from iam.recovery import service as recovery_service
from iam_recovery_support import CF_MARIO, app_config, captcha, make_account
from polis.testing import free_port


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(app_config(database_url, free_port()))
    all_metadata().create_all(db.engine)
    yield app
    db.dispose()


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every argon2 hash the temporary-password recovery computes."""
    made: list[str] = []
    real = recovery_service.hash_secret

    def counting(secret: str, **kwargs: object) -> str:
        made.append(secret)
        return real(secret, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(recovery_service, "hash_secret", counting)
    return made


def test_d_acc_6_the_captcha_is_checked_before_any_argon2_work(
    app: Flask, client: FlaskClient, hashes: list[str]
) -> None:
    make_account(db)
    refused = client.post(
        "/api/iam/v1/recovery/password",
        json={"username": "mario.rossi", "codice_fiscale": CF_MARIO, "captcha": "wrong"},
    )
    assert refused.status_code == 400
    assert refused.get_json()["error"]["fields"] == {"captcha": ["captcha_failed"]}
    assert hashes == []  # before: one argon2 hash per request, solved captcha or not

    accepted = client.post(
        "/api/iam/v1/recovery/password",
        json={"username": "mario.rossi", "codice_fiscale": CF_MARIO, "captcha": captcha()},
    )
    assert accepted.status_code == 202
    assert len(hashes) == 1  # the uniform work still happens once the captcha is solved
