"""Issue 11 item 4: the walking skeleton's `POST /api/iam/v1/email-confirmations` mailed any address without a
captcha; it is retired. Its paths answer the JSON 404 and record nothing, so nothing can be mailed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam.audit.models import AuditEntry
from iam.extensions import db
from iam.models import all_metadata, outbox
from oidc_helpers import make_app
from sqlalchemy import func, inspect, select

RETIRED = "/api/iam/v1/email-confirmations"


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from make_app(database_url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.mark.parametrize("path", [RETIRED, f"{RETIRED}/confirm"])
def test_the_retired_endpoint_answers_the_json_404_and_sends_nothing(client: FlaskClient, path: str) -> None:
    audit_before = audit_entries()

    response = client.post(path, json={"email": "chiunque@example.org", "language": "it", "token": "x"})

    assert response.status_code == 404
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "not_found" and error["message"]
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(outbox)) == 0  # no event: no email
    assert audit_entries() == audit_before


def audit_entries() -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def test_neither_its_table_nor_its_paths_are_left(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]

    assert not [path for path in paths if "email-confirmations" in path]
    assert "email_confirmations" not in all_metadata().tables
    assert "email_confirmations" not in inspect(db.engine).get_table_names()
