"""The ops audit API (issue 3 item 10): the ops token is required; filters; newest first; pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam import create_app
from iam.extensions import db
from iam.models import all_metadata
from iam_recovery_support import CF_GIULIA, CF_MARIO, OPS_HEADERS, app_config, captcha, make_account
from polis.testing import free_port


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(app_config(database_url, free_port()))
    all_metadata().create_all(db.engine)
    yield app
    db.dispose()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic polis-dev-ops-token"},
        {"Authorization": "Bearer "},
    ],
)
def test_the_ops_api_requires_the_ops_token(app: Flask, client: FlaskClient, headers: dict) -> None:
    response = client.get("/api/iam/v1/ops/audit", headers=headers)

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "ops_token_required"


def test_recoveries_are_audited_with_origin_and_request_id_newest_first(
    app: Flask, client: FlaskClient
) -> None:
    account = make_account(db)
    for cf in (CF_MARIO, CF_GIULIA, CF_MARIO):
        client.post(
            "/api/iam/v1/recovery/username",
            json={"codice_fiscale": cf, "captcha": captcha()},
            headers={
                "User-Agent": "Browser/1.0",
                "X-Forwarded-For": "198.51.100.4",
                "X-Request-ID": f"req-{cf}",
            },
        )

    page = client.get(
        f"/api/iam/v1/ops/audit?account_id={account.id}&action=recovery.username_requested&limit=1",
        headers=OPS_HEADERS,
    ).get_json()

    [entry] = page["entries"]
    assert entry["account_id"] == str(account.id)
    assert (entry["source_address"], entry["user_agent"], entry["actor"]) == (
        "198.51.100.4",
        "Browser/1.0",
        "anonymous",
    )
    assert entry["request_id"]
    assert entry["occurred_at"].endswith("+00:00")  # UTC with its offset, on SQLite too
    assert page["next_offset"] == 1
    second = client.get(
        f"/api/iam/v1/ops/audit?account_id={account.id}&limit=1&offset=1", headers=OPS_HEADERS
    ).get_json()
    assert second["next_offset"] is None
    assert second["entries"][0]["occurred_at"] <= entry["occurred_at"]
    everything = client.get("/api/iam/v1/ops/audit", headers=OPS_HEADERS).get_json()
    assert len(everything["entries"]) == 3


def test_time_filters_and_bad_queries(app: Flask, client: FlaskClient) -> None:
    client.post("/api/iam/v1/recovery/username", json={"codice_fiscale": CF_MARIO, "captcha": captcha()})

    future = client.get("/api/iam/v1/ops/audit?since=2999-01-01T00:00:00Z", headers=OPS_HEADERS).get_json()
    past = client.get(
        "/api/iam/v1/ops/audit?until=2999-01-01T00:00:00%2B01:00", headers=OPS_HEADERS
    ).get_json()
    bad = client.get("/api/iam/v1/ops/audit?limit=100000&colour=red", headers=OPS_HEADERS)

    assert future["entries"] == [] and len(past["entries"]) == 1
    assert bad.status_code == 400
    assert set(bad.get_json()["error"]["fields"]) == {"limit", "colour"}
