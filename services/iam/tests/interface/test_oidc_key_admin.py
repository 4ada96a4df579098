"""Operating the signing keys (issue 5, item 3): the ops API and the `oidc-keys` commands rotate on demand
(audited), the JWKS endpoint publishes the successor before it signs, the worker rotates on schedule."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam.audit.models import AuditEntry
from iam.extensions import db
from iam.keys import loop as key_admin
from iam.keys import service as keys
from iam.keys.models import SigningKey
from oidc_helpers import make_app
from sqlalchemy import select, update

OPS = {"Authorization": "Bearer polis-dev-ops-token"}
API = "/api/iam/v1/ops/oidc-keys"
KEY_FIELDS = {"kid", "alg", "status", "created_at", "signs_from", "retired_at", "published_until"}


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from make_app(database_url, OIDC_KEY_PUBLISH_LEAD_SECONDS=3600)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def audit_entries() -> list[AuditEntry]:
    with db.transaction() as session:
        rows = list(session.scalars(select(AuditEntry).where(AuditEntry.action == keys.ROTATED)))
        session.expunge_all()
        return rows


def jwks_kids(client: FlaskClient) -> set[str]:
    return {key["kid"] for key in client.get("/oidc/jwks").get_json()["keys"]}


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", API), ("post", f"{API}/rotate")],
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_the_key_api_refuses_without_the_ops_token(
    client: FlaskClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = getattr(client, method)(path, headers=headers)

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "ops_token_required"
    with db.transaction() as session:
        assert session.scalars(select(SigningKey)).first() is None  # nothing rotated


def test_the_key_list_shows_the_lifecycle_and_never_a_private_part(client: FlaskClient) -> None:
    kid, _ = keys.active_key(db, "ES256")

    response = client.get(API, headers=OPS)

    assert response.status_code == 200
    [listed] = response.get_json()["keys"]
    assert set(listed) == KEY_FIELDS
    assert listed["kid"] == kid and listed["alg"] == "ES256" and listed["status"] == "signing"
    assert listed["retired_at"] is None and listed["published_until"] is None
    assert "private" not in response.get_data(as_text=True) and '"d"' not in response.get_data(as_text=True)


def test_the_ops_api_rotates_publishing_the_successor_before_it_signs(client: FlaskClient) -> None:
    """issue 5: rotation on demand; the new key is in the JWKS before it signs; audited with actor ops."""
    old_kid, _ = keys.active_key(db, "ES256")

    response = client.post(f"{API}/rotate", headers=OPS)

    assert response.status_code == 200
    rotations = {rotation["alg"]: rotation for rotation in response.get_json()["rotations"]}
    assert set(rotations) == {"ES256", "RS256"}
    successor = rotations["ES256"]
    assert successor["created"] and successor["previous"] == [old_kid]
    signs_from = datetime.fromisoformat(successor["signs_from"])
    assert timedelta(minutes=59) < signs_from - datetime.now(UTC) <= timedelta(hours=1)
    assert {old_kid, successor["kid"]} <= jwks_kids(client)  # published now ...
    assert keys.sign(db, {"sub": "1"}) and keys.active_key(db)[0] == old_kid  # ... signing in an hour
    listed = {key["kid"]: key for key in client.get(API, headers=OPS).get_json()["keys"]}
    assert listed[successor["kid"]]["status"] == "published"
    assert listed[old_kid]["retired_at"] == successor["signs_from"]
    entries = {entry.details["alg"]: entry for entry in audit_entries()}
    assert entries["ES256"].actor == "ops:token" and entries["ES256"].details["kid"] == successor["kid"]


def test_the_ops_api_rotates_one_algorithm_and_checks_the_body(client: FlaskClient) -> None:
    one = client.post(f"{API}/rotate", headers=OPS, json={"alg": "RS256"})
    wrong = client.post(f"{API}/rotate", headers=OPS, json={"alg": "HS256"})
    unknown = client.post(f"{API}/rotate", headers=OPS, json={"alg": "RS256", "now": "2020-01-01"})
    not_json = client.post(f"{API}/rotate", headers=OPS, data="alg=RS256")

    assert one.status_code == 200 and [r["alg"] for r in one.get_json()["rotations"]] == ["RS256"]
    assert wrong.status_code == 400 and "alg" in wrong.get_json()["error"]["fields"]
    assert unknown.status_code == 400
    assert not_json.status_code == 415
    assert [entry.details["alg"] for entry in audit_entries()] == ["RS256"]


def test_the_command_rotates_lists_and_reseals(app: Flask) -> None:
    """issue 5: rotation on demand from the command line (actor ops:cli)."""
    runner = app.test_cli_runner()
    old_kid, _ = keys.active_key(db, "ES256")

    rotated = runner.invoke(args=["oidc-keys", "rotate", "--alg", "ES256"])
    again = runner.invoke(args=["oidc-keys", "rotate", "--alg", "ES256"])
    listed = runner.invoke(args=["oidc-keys", "list"])
    resealed = runner.invoke(args=["oidc-keys", "reseal"])

    assert rotated.exit_code == 0, rotated.output
    assert "ES256 rotated" in rotated.output and "already pending" in again.output
    [entry] = audit_entries()
    assert entry.actor == "ops:cli" and entry.details["previous"] == [old_kid]
    assert listed.exit_code == 0 and old_kid in listed.output and entry.details["kid"] in listed.output
    assert "published" in listed.output and "signing" in listed.output and '"d"' not in listed.output
    assert resealed.exit_code == 0 and "0 resealed, 2 already were" in resealed.output


def test_the_worker_hook_rotates_when_due(app: Flask) -> None:
    """issue 5: scheduled rotation: the worker's loop rotates a key that has signed for the rotation days."""
    old_kid, _ = keys.active_key(db, "ES256")
    with db.transaction() as session:
        long_ago = datetime.now(UTC) - timedelta(days=31)
        session.execute(update(SigningKey).values(created_at=long_ago, signs_from=long_ago))
    stop = threading.Event()
    loop = key_admin.rotation_loop(app.config, db, interval=0.05)
    worker = threading.Thread(target=loop.run, args=(stop,))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(audit_entries()) < 2:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=10)

    entries = {entry.details["alg"]: entry for entry in audit_entries()}
    assert set(entries) == {"ES256", "RS256"}  # ES256 was due; RS256 had no chain yet
    assert entries["ES256"].actor == "ops:schedule" and entries["ES256"].details["previous"] == [old_kid]
    assert entries["RS256"].details["previous"] == []
    assert not worker.is_alive()


def test_the_worker_stops_with_a_clear_error_when_the_kek_is_wrong(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """issue 5: a wrong IAM_KEY_ENCRYPTION_KEY is found at start, not at the next login."""
    keys.active_key(db, "ES256")
    keys.forget_cached()
    other = {**app.config, "KEY_ENCRYPTION_KEY": "b3RoZXIta2V5LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGU"}
    loop = key_admin.rotation_loop(other, db, interval=0.05)

    with pytest.raises(keys.KeyUnavailable):
        loop.run(threading.Event())

    assert "do not open with IAM_KEY_ENCRYPTION_KEY" in caplog.text
    assert "b3RoZXIta2V5" not in caplog.text  # the KEK itself is never logged
    keys.configure(keys.KeySettings.from_config(app.config))


def test_a_wrong_kek_gives_users_an_error_not_a_stack_trace(app: Flask, client: FlaskClient) -> None:
    keys.active_key(db, "ES256")
    keys.forget_cached()
    keys.configure(
        keys.KeySettings.from_config(
            {**app.config, "KEY_ENCRYPTION_KEY": "b3RoZXIta2V5LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGU"}
        )
    )
    try:
        response = client.get("/oidc/jwks")
    finally:
        keys.configure(keys.KeySettings.from_config(app.config))
        keys.forget_cached()

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "signing_key_unavailable"
    assert "Traceback" not in response.get_data(as_text=True)


def test_a_malformed_kek_stops_the_app_at_start(database_url: str) -> None:
    from polis.config import ConfigError

    with pytest.raises(ConfigError, match="IAM_KEY_ENCRYPTION_KEY"):
        next(make_app(database_url, KEY_ENCRYPTION_KEY="too-short"))
