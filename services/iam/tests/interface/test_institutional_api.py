"""MI accounts over HTTP and the CLI (D-ACC-2): the ops import (ops token), the security officer's reset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam import create_app
from iam.extensions import db
from iam.models import all_metadata
from iam_recovery_support import (
    CF_ANNA,
    CF_GIULIA,
    OPS_HEADERS,
    app_config,
    audit_entries,
    events,
    make_account,
    sign_in,
    unseal,
)
from polis.testing import free_port

CSV = (
    "codice_fiscale,first_name,last_name,institutional_email\n"
    f"{CF_GIULIA},Giulia,Bianchi,giulia.bianchi@istruzione.it\n"
    f"{CF_ANNA},Anna,Verdi,anna.verdi@istruzione.it\n"
)


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(app_config(database_url, free_port()))
    all_metadata().create_all(db.engine)
    yield app
    db.dispose()


def import_csv(client: FlaskClient, text: str, headers: dict | None = None) -> tuple[int, dict]:
    response = client.post(
        "/api/iam/v1/ops/mi-accounts/import",
        data=text.encode(),
        headers={"Content-Type": "text/csv", **(OPS_HEADERS if headers is None else headers)},
    )
    return response.status_code, response.get_json()


def test_d_acc_2_the_import_needs_the_ops_token(app: Flask, client: FlaskClient) -> None:
    status, body = import_csv(client, CSV, headers={"Authorization": "Bearer guess"})

    assert status == 401 and body["error"]["code"] == "ops_token_required"
    assert events(db) == []


def test_d_acc_2_the_import_is_idempotent(app: Flask, client: FlaskClient) -> None:
    first = import_csv(client, CSV)
    again = client.post("/api/iam/v1/ops/mi-accounts/import", json={"csv": CSV}, headers=OPS_HEADERS)

    assert first == (200, {"created": ["giulia.bianchi", "anna.verdi"], "updated": [], "unchanged": 0})
    assert again.get_json() == {"created": [], "updated": [], "unchanged": 2}
    assert len(events(db, "iam.account_registered")) == 2


def test_d_acc_2_a_bad_csv_lists_its_lines_and_imports_nothing(app: Flask, client: FlaskClient) -> None:
    status, body = import_csv(client, CSV + "RSSMRA80A01H501X,Mario,Rossi,mario@example.it\n")

    assert status == 400
    assert body["error"]["code"] == "import_rejected"
    assert body["error"]["fields"]["rows"] == [
        {"line": 4, "field": "codice_fiscale", "error": "invalid_codice_fiscale"},
        {"line": 4, "field": "institutional_email", "error": "not_institutional"},
    ]
    assert events(db) == []


def test_d_acc_2_a_file_the_csv_reader_cannot_read_is_refused_not_a_500(
    app: Flask, client: FlaskClient
) -> None:
    """Issue 17 (fuzzing): a bare carriage return inside an unquoted field made csv raise, answered 500."""
    answer = client.post(
        "/api/iam/v1/ops/mi-accounts/import",
        json={"csv": "codice_fiscale,first\rname\n"},
        headers=OPS_HEADERS,
    )

    body = answer.get_json()
    assert answer.status_code == 400, body
    assert body["error"]["code"] == "import_rejected"
    assert body["error"]["fields"]["rows"] == [{"line": 1, "field": "file", "error": "unreadable_csv"}]
    assert events(db) == []


def test_d_acc_2_the_cli_imports_and_refuses_bad_files(app: Flask, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(CSV, encoding="utf-8")
    bad.write_text(CSV + "x,y\n", encoding="utf-8")
    runner = app.test_cli_runner()

    refused = runner.invoke(args=["mi-import", str(bad)])
    imported = runner.invoke(args=["mi-import", str(good)])
    again = runner.invoke(args=["mi-import", str(good)])

    assert refused.exit_code != 0 and "line 4" in refused.output and "nothing imported" in refused.output
    assert imported.exit_code == 0 and "created 2" in imported.output
    assert "created 0, updated 0, unchanged 2" in again.output


def test_d_acc_2_the_security_officer_finds_and_resets_an_mi_account(app: Flask, client: FlaskClient) -> None:
    import_csv(client, CSV)
    officer = make_account(db, roles=["security_officer"])
    sign_in(app, client, officer)

    found = client.get(f"/api/iam/v1/security-officer/mi-accounts?q={CF_GIULIA}").get_json()["accounts"]
    [target] = found
    reset = client.post(f"/api/iam/v1/security-officer/mi-accounts/{target['id']}/password-reset", json={})

    assert reset.status_code == 202
    [issued] = events(db, "iam.temporary_password_issued")
    assert issued["data"]["issued_by"] == "security_officer"
    assert len(unseal(issued["data"]["temporary_password"])) >= 12
    [entry] = audit_entries(db, "mi_password.reset")
    assert entry.actor == f"account:{officer.id}" and str(entry.account_id) == target["id"]


def test_d_acc_2_an_ordinary_account_may_not_reset(app: Flask, client: FlaskClient) -> None:
    import_csv(client, CSV)
    sign_in(app, client, make_account(db))

    search = client.get(f"/api/iam/v1/security-officer/mi-accounts?q={CF_GIULIA}")

    assert search.status_code == 403
    assert events(db, "iam.temporary_password_issued") == []


def test_d_acc_2_a_reset_without_a_json_body_is_refused(app: Flask, client: FlaskClient) -> None:
    import_csv(client, CSV)
    sign_in(app, client, make_account(db, roles=["security_officer"]))
    target = client.get(f"/api/iam/v1/security-officer/mi-accounts?q={CF_ANNA}").get_json()["accounts"][0]

    form_post = client.post(
        f"/api/iam/v1/security-officer/mi-accounts/{target['id']}/password-reset", data={"a": "b"}
    )

    assert form_post.status_code == 415
