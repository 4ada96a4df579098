"""The client registry through its ops API, its command and demo data (issue 5, item 1): create or update
idempotently, secrets shown once and stored hashed, rotation with a grace period, refusals, audit."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam.audit.models import AuditEntry
from iam.clients import service as clients
from iam.clients.models import OidcClient
from iam.extensions import db
from oidc_helpers import make_app
from sqlalchemy import select, update

OPS = {"Authorization": "Bearer polis-dev-ops-token"}
API = "/api/iam/v1/ops/oidc-clients"
PARTNER = {
    "name": "Partner",
    "trusted": False,
    "redirect_uris": ["https://partner.example/cb"],
    "post_logout_redirect_uris": ["https://partner.example/"],
    "scopes": ["openid", "profile", "email"],
}
SERVICE = {
    "name": "Reports",
    "trusted": True,
    "grant_types": ["client_credentials"],
    "scopes": ["istanze"],
    "service_roles": ["ops"],
}


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from make_app(database_url)


def put(client: FlaskClient, client_id: str, body: dict[str, Any], headers: dict[str, str] = OPS) -> Any:
    return client.put(f"{API}/{client_id}", json=body, headers=headers)


def rotate(client: FlaskClient, client_id: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(f"{API}/{client_id}/secret", json=body if body is not None else {}, headers=OPS)


def audit_actions(client_id: str) -> list[tuple[str, str]]:
    with db.transaction() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.occurred_at, AuditEntry.id))
        return [(e.action, e.actor) for e in entries if e.details.get("client_id") == client_id]


def token_endpoint_accepts(client: FlaskClient, client_id: str, secret: str) -> bool:
    """Client authentication at /oidc/token: a bogus code gets invalid_grant once the client is authenticated,
    invalid_client before (Authlib authenticates the client first)."""
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = client.post(
        "/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": "bogus",
            "redirect_uri": "https://partner.example/cb",
        },
        headers={"Authorization": f"Basic {basic}"},
    )
    error = response.get_json()["error"]
    assert error in ("invalid_client", "invalid_grant"), response.get_json()
    return bool(error == "invalid_grant")


# --- the ops API ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", API), ("get", f"{API}/portal"), ("put", f"{API}/partner"), ("post", f"{API}/portal/secret")],
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}])
def test_issue_5_item_1_the_registry_api_requires_the_ops_token(
    app: Flask, method: str, path: str, headers: dict[str, str]
) -> None:
    response = getattr(app.test_client(), method)(path, json=PARTNER, headers=headers)

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "ops_token_required"
    assert clients.get(db, "partner") is None


def test_issue_5_item_1_put_creates_a_confidential_client_and_shows_its_secret_once(app: Flask) -> None:
    client = app.test_client()

    created = put(client, "partner", PARTNER)
    again = put(client, "partner", PARTNER)

    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    secret = body["client_secret"]
    assert body["outcome"] == "created" and len(secret) >= 43
    assert body["client"]["confidential"] is True and body["client"]["trusted"] is False
    assert body["client"]["redirect_uris"] == ["https://partner.example/cb"]
    assert "secret_hash" not in created.get_data(as_text=True) and "sha256:" not in created.get_data(
        as_text=True
    )
    assert again.status_code == 200
    assert again.get_json()["outcome"] == "unchanged" and "client_secret" not in again.get_json()
    with db.transaction() as session:
        row = session.get_one(OidcClient, "partner")
        assert row.secret_hash == clients.hash_client_secret(secret)  # stored hashed only
    assert token_endpoint_accepts(client, "partner", secret)
    assert not token_endpoint_accepts(client, "partner", secret + "x")
    assert audit_actions("partner") == [("oidc_client.created", "ops:token")]


def test_put_updates_every_field_and_the_change_is_seen_at_once(app: Flask) -> None:
    client = app.test_client()
    put(client, "partner", PARTNER)
    assert clients.find(db, "partner") is not None  # now cached in this process

    changed = put(
        client,
        "partner",
        {
            **PARTNER,
            "name": "Partner 2",
            "trusted": True,
            "redirect_uris": ["https://partner.example/cb2"],
            "scopes": ["openid", "fiscal_number", "istanze"],
            "access_token_ttl": 600,
            "refresh_token_ttl": 3600,
            "refresh_family_ttl": 7 * 24 * 3600,
            "id_token_alg": "RS256",
            "backchannel_logout_uri": "https://partner.example/bc",
        },
    )

    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["outcome"] == "updated" and "client_secret" not in changed.get_json()
    found = clients.find(db, "partner")
    assert found is not None
    assert found.name == "Partner 2" and found.trusted
    assert found.redirect_uris == ["https://partner.example/cb2"]
    assert found.audiences == ["urn:polis:istanze"]
    assert (found.access_token_ttl, found.refresh_token_ttl, found.refresh_family_ttl) == (600, 3600, 604800)
    assert found.id_token_alg == "RS256" and found.backchannel_logout_uri == "https://partner.example/bc"
    shown = client.get(f"{API}/partner", headers=OPS).get_json()
    assert shown["name"] == "Partner 2" and shown["confidential"] is True
    assert [entry[0] for entry in audit_actions("partner")] == ["oidc_client.created", "oidc_client.updated"]


def test_a_service_client_and_a_public_client(app: Flask) -> None:
    client = app.test_client()

    service = put(client, "reports", SERVICE)
    public = put(client, "spa", {**PARTNER, "confidential": False, "trusted": True})

    assert service.status_code == 201, service.get_json()
    assert service.get_json()["client"]["audiences"] == ["urn:polis:istanze"]
    assert service.get_json()["client"]["service_roles"] == ["ops"]
    assert public.status_code == 201 and "client_secret" not in public.get_json()
    assert public.get_json()["client"]["confidential"] is False
    assert clients.get(db, "spa").is_public  # type: ignore[union-attr]


def test_list_and_show_never_give_a_secret_or_its_hash(app: Flask) -> None:
    client = app.test_client()
    put(client, "partner", PARTNER)

    listed = client.get(API, headers=OPS)
    shown = client.get(f"{API}/partner", headers=OPS)
    missing = client.get(f"{API}/nobody", headers=OPS)

    assert [c["client_id"] for c in listed.get_json()["clients"]] == ["partner", "portal"]
    for response in (listed, shown):
        text = response.get_data(as_text=True)
        assert "sha256:" not in text and "secret_hash" not in text and "client_secret" not in text
    assert shown.get_json()["client_id"] == "partner"
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


def test_issue_5_item_1_unknown_fields_are_refused_by_name(app: Flask) -> None:
    response = put(app.test_client(), "partner", {**PARTNER, "colour": "red", "secret_hash": "x"})

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert error["message"] == "Unknown fields: colour, secret_hash."
    assert clients.get(db, "partner") is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"redirect_uris": ["https://partner.example/*"]}, "redirect_uris"),
        ({"redirect_uris": ["http://partner.example/cb"]}, "redirect_uris"),
        ({"redirect_uris": ["https://partner.example/cb#frag"]}, "redirect_uris"),
        ({"redirect_uris": []}, "redirect_uris"),
        ({"confidential": False, "grant_types": ["authorization_code", "client_credentials"]}, "grant_types"),
        ({"scopes": ["profile"]}, "scopes"),
        ({"scopes": ["openid", "superuser"]}, "scopes"),
        ({"access_token_ttl": 86400}, "access_token_ttl"),
        ({"access_token_ttl": "900"}, "access_token_ttl"),
        ({"id_token_alg": "none"}, "id_token_alg"),
        ({"audiences": ["urn:polis:istanze"]}, "audiences"),
        ({"service_roles": ["ops"]}, "service_roles"),
        ({"backchannel_logout_uri": "http://partner.example/bc"}, "backchannel_logout_uri"),
        ({"trusted": None}, "trusted"),
    ],
)
def test_issue_5_item_1_bad_settings_are_refused_with_the_field_named(
    app: Flask, changes: dict[str, Any], field: str
) -> None:
    response = put(app.test_client(), "partner", {**PARTNER, **changes})

    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["fields"], error
    assert clients.get(db, "partner") is None


def test_a_bad_client_id_or_body_is_refused(app: Flask) -> None:
    client = app.test_client()

    bad_id = put(client, "bad.id", PARTNER)
    not_json = client.put(f"{API}/partner", data="name=x", headers=OPS)
    missing = put(client, "partner", {"redirect_uris": ["https://partner.example/cb"]})

    assert bad_id.status_code == 400 and "client_id" in bad_id.get_json()["error"]["fields"]
    assert not_json.status_code == 415
    assert missing.status_code == 400
    assert set(missing.get_json()["error"]["fields"]) == {"name", "trusted"}


# --- secret rotation ------------------------------------------------------------------------------------


def test_issue_5_item_1_a_rotated_secret_without_grace_ends_at_once(app: Flask) -> None:
    client = app.test_client()
    old = put(client, "partner", PARTNER).get_json()["client_secret"]

    rotated = rotate(client, "partner")

    assert rotated.status_code == 200, rotated.get_json()
    new = rotated.get_json()["client_secret"]
    assert new != old and rotated.get_json()["client_id"] == "partner"
    assert token_endpoint_accepts(client, "partner", new)
    assert not token_endpoint_accepts(client, "partner", old)
    assert audit_actions("partner")[-1] == ("oidc_client.secret_rotated", "ops:token")


def test_issue_5_item_1_the_old_secret_works_within_the_grace_period_and_not_after(app: Flask) -> None:
    client = app.test_client()
    old = put(client, "partner", PARTNER).get_json()["client_secret"]

    rotated = rotate(client, "partner", {"grace_seconds": 3600})
    new = rotated.get_json()["client_secret"]
    expires_at = datetime.fromisoformat(rotated.get_json()["previous_secret_expires_at"])
    within_old, within_new = (
        token_endpoint_accepts(client, "partner", old),
        token_endpoint_accepts(client, "partner", new),
    )
    # The grace period ends (as an hour would make it): the row says so, no process waits for its cache.
    with db.transaction() as session:
        session.execute(
            update(OidcClient)
            .where(OidcClient.client_id == "partner")
            .values(previous_secret_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    clients.forget_cached()

    assert timedelta(minutes=59) < expires_at - datetime.now(UTC) <= timedelta(hours=1)
    assert within_old and within_new
    assert not token_endpoint_accepts(client, "partner", old)
    assert token_endpoint_accepts(client, "partner", new)


def test_a_new_secret_works_at_once_even_in_a_process_that_cached_the_client(app: Flask) -> None:
    client = app.test_client()
    put(client, "partner", PARTNER)
    cached = clients.find(db, "partner")
    # Another process rotates: this process's cache is not told.
    new = clients.rotate_secret(db, "partner", 0)
    clients._cache["partner"] = (clients.time.monotonic(), cached)  # type: ignore[assignment]

    assert token_endpoint_accepts(client, "partner", new)


def test_rotation_refusals(app: Flask) -> None:
    client = app.test_client()
    put(client, "spa", {**PARTNER, "confidential": False})

    public = rotate(client, "spa")
    unknown = rotate(client, "nobody")
    negative = rotate(client, "portal", {"grace_seconds": -1})
    too_long = rotate(client, "portal", {"grace_seconds": 31 * 24 * 3600})
    extra = rotate(client, "portal", {"grace_seconds": 0, "secret": "mine"})

    assert public.status_code == 409 and public.get_json()["error"]["code"] == "public_client"
    assert unknown.status_code == 404
    assert negative.status_code == 400 and "grace_seconds" in negative.get_json()["error"]["fields"]
    assert too_long.status_code == 400
    assert extra.status_code == 400 and extra.get_json()["error"]["message"] == "Unknown fields: secret."


# --- the command ----------------------------------------------------------------------------------------


def test_the_command_registers_a_service_client_and_prints_its_generated_secret_once(app: Flask) -> None:
    runner = app.test_cli_runner()
    args = [
        "oidc-client",
        "ensure",
        "--client-id",
        "reports",
        "--grant-type",
        "client_credentials",
        "--scope",
        "istanze",
        "--scope",
        "enablement",
        "--service-role",
        "ops",
        "--access-token-ttl",
        "300",
        "--id-token-alg",
        "RS256",
    ]

    first = runner.invoke(args=args)
    second = runner.invoke(args=args)

    assert first.exit_code == 0, first.output
    assert "created" in first.output and "client secret (shown once" in first.output
    secret = first.output.strip().rsplit(" ", 1)[-1]
    assert second.exit_code == 0 and "unchanged" in second.output and "client secret" not in second.output
    found = clients.find(db, "reports")
    assert found is not None and found.check_client_secret(secret)
    assert found.audiences == ["urn:polis:istanze", "urn:polis:enablement"]
    assert (found.service_roles, found.access_token_ttl, found.id_token_alg) == (["ops"], 300, "RS256")
    assert audit_actions("reports") == [("oidc_client.created", "ops:cli")]


def test_the_command_refuses_a_public_client_with_client_credentials(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=[
            "oidc-client",
            "ensure",
            "--client-id",
            "x",
            "--public",
            "--grant-type",
            "client_credentials",
            "--scope",
            "istanze",
        ]
    )

    assert result.exit_code != 0
    assert "public client" in result.output
    assert clients.get(db, "x") is None


def test_the_command_rotates_a_secret_and_lists_the_clients(app: Flask) -> None:
    runner = app.test_cli_runner()

    rotated = runner.invoke(
        args=["oidc-client", "rotate-secret", "--client-id", "portal", "--grace-seconds", "60"]
    )
    unknown = runner.invoke(args=["oidc-client", "rotate-secret", "--client-id", "nobody"])
    listed = runner.invoke(args=["oidc-client", "list"])

    assert rotated.exit_code == 0, rotated.output
    secret = rotated.output.strip().rsplit(" ", 1)[-1]
    portal = clients.find(db, "portal")
    assert portal is not None and portal.check_client_secret(secret)
    assert portal.check_client_secret("portal-test-secret-0123456789")  # within its 60 s of grace
    assert unknown.exit_code != 0 and "no client nobody" in unknown.output
    assert listed.exit_code == 0
    assert listed.output.startswith("portal\tIstanze OnLine\tconfidential\ttrusted")
    assert "sha256" not in listed.output and secret not in listed.output


# --- demo data ------------------------------------------------------------------------------------------


def test_issue_5_item_1_demo_data_registers_the_portal_the_partners_and_the_ops_client(app: Flask) -> None:
    runner = app.test_cli_runner()

    first = runner.invoke(args=["demo-data"])
    second = runner.invoke(args=["demo-data"])

    assert first.exit_code == 0, first.output
    assert "unchanged" in second.output and "created" not in second.output and "updated" not in second.output
    registered = {c.client_id: c for c in clients.list_clients(db)}
    assert set(registered) == {
        "portal",
        "pagoinrete",
        "iscrizioni",
        "governance-formazione",
        "assistenti-lingua",
        "polis-ops",
    }
    portal = registered["portal"]
    assert portal.scopes == ["openid", "profile", "email", "fiscal_number", "iam", "enablement", "istanze"]
    assert portal.audiences == ["urn:polis:iam", "urn:polis:enablement", "urn:polis:istanze"]
    assert portal.grant_types == ["authorization_code", "refresh_token"] and portal.trusted
    pago = registered["pagoinrete"]
    assert pago.name == "Pago in rete (demo)"
    assert pago.redirect_uris == ["http://localhost:8090/auth/callback"]
    assert pago.post_logout_redirect_uris == ["http://localhost:8090/"]
    assert pago.backchannel_logout_uri == "http://localhost:8090/backchannel-logout"
    assert pago.scopes == ["openid", "profile", "email", "fiscal_number"]
    assert pago.check_client_secret("dev-only-pagoinrete-client-secret")
    names = {
        cid: registered[cid].name for cid in ("iscrizioni", "governance-formazione", "assistenti-lingua")
    }
    assert names == {
        "iscrizioni": "Iscrizioni online",
        "governance-formazione": "Portale della governance della formazione",
        "assistenti-lingua": "Assistenti di lingua italiana all'estero",
    }
    assert registered["iscrizioni"].redirect_uris == ["https://iscrizioni.example.invalid/callback"]
    assert all(registered[cid].trusted and registered[cid].confidential for cid in names)
    ops = registered["polis-ops"]
    assert ops.grant_types == ["client_credentials"] and ops.service_roles == ["ops"]
    assert ops.scopes == ["iam", "enablement", "istanze", "notifier"] and ops.redirect_uris == []
    assert ops.audiences == [
        "urn:polis:iam",
        "urn:polis:enablement",
        "urn:polis:istanze",
        "urn:polis:notifier",
    ]


def test_the_demo_partner_url_comes_from_its_setting(database_url: str) -> None:
    for app in make_app(database_url, PAGOINRETE_DEMO_URL="http://127.0.0.1:9999"):
        result = app.test_cli_runner().invoke(args=["demo-data"])

        assert result.exit_code == 0, result.output
        pago = clients.get(db, "pagoinrete")
        assert pago is not None and pago.redirect_uris == ["http://127.0.0.1:9999/auth/callback"]
