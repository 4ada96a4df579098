"""One session, everywhere (issue 5 item 4): the ends of SSO sessions reach the clients by OpenID Connect
Back-Channel Logout 1.0 and take their tokens with them (D-ACC-4, D-ACC-6, D-ACC-7, D-ACC-2).

The clients' endpoints are a real HTTP server in a thread; the worker's delivery pass is called directly
with an explicit `now`, so retries are shown without waiting for them.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam.accounts.links import hash_token
from iam.accounts.models import Account, AccountKind
from iam.clients import service as clients
from iam.clients.models import OidcClient
from iam.extensions import db
from iam.oidc.backchannel import EVENT, DeliveryPolicy, deliver_due
from iam.oidc.models import AccessToken, LogoutDelivery, RefreshToken, SessionClient
from iam.signin.models import SsoSession
from iam.signin.sessions import COOKIE
from iam_recovery_support import events, unseal
from joserfc import jwt
from joserfc.jwk import KeySet
from oidc_helpers import (
    ISSUER,
    PASSWORD,
    PORTAL,
    PORTAL_SECRET,
    change_password,
    full_login,
    login,
    make_account,
    make_app,
)
from polis.testing import free_port
from sqlalchemy import select, update

PARTNER = "pagoinrete"  # registered a back-channel logout URI
SILENT = "iscrizioni"  # did not
NEW_PASSWORD = "girasole-fiume-quaderno-lento"


# --- a client's back-channel logout endpoint --------------------------------------------------------------


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client that timed out closed the connection before this answer: expected here


@dataclass
class Receiver:
    """Records every request; answers each POST with the next queued status (then 200)."""

    statuses: deque[int] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    hold: threading.Event | None = None  # when set up, a POST waits on it (a client that hangs)
    server: QuietServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/backchannel-logout"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                receiver.requests.append(
                    {"path": self.path, "content_type": self.headers.get("Content-Type"), "body": body}
                )
                if receiver.hold is not None:
                    receiver.hold.wait(10)
                status = receiver.statuses.popleft() if receiver.statuses else 200
                self.send_response(status)
                if status in (301, 302, 303, 307, 308):
                    self.send_header("Location", "/somewhere-else")
                self.send_header("Content-Length", "0")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def do_GET(self) -> None:  # a followed redirect would land here
                receiver.requests.append({"path": self.path, "content_type": None, "body": ""})
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def logout_tokens(self) -> list[str]:
        return [parse_qs(request["body"])["logout_token"][0] for request in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def app(database_url: str, receiver: Receiver) -> Iterator[Flask]:
    for flask_app in make_app(database_url):
        for client_id, uri in ((PARTNER, receiver.url), (SILENT, None)):
            clients.ensure(
                db,
                client_id=client_id,
                name=client_id,
                secret=f"{client_id}-secret-0123456789abcdef",
                redirect_uris=[f"https://{client_id}.example/callback"],
                post_logout_redirect_uris=[],
                backchannel_logout_uri=uri,
            )
        yield flask_app


def policy(**changes: Any) -> DeliveryPolicy:
    return DeliveryPolicy(issuer=ISSUER, **changes)


# --- what the token endpoint records (the lead's code grant writes the same rows) -------------------------


@dataclass(frozen=True)
class Issued:
    family_id: uuid.UUID
    refresh_hash: str
    jti: str


def tokens_issued(sso_session_id: uuid.UUID, client_id: str) -> Issued:
    """A client got tokens in this SSO session: its SessionClient row, a refresh family, an access token."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        account_id = session.get_one(SsoSession, sso_session_id).account_id
        issued = Issued(family_id=uuid.uuid4(), refresh_hash=uuid.uuid4().hex, jti=uuid.uuid4().hex)
        if session.get(SessionClient, (sso_session_id, client_id)) is None:
            session.add(SessionClient(sso_session_id=sso_session_id, client_id=client_id, created_at=now))
        session.add(
            RefreshToken(
                token_hash=issued.refresh_hash,
                family_id=issued.family_id,
                client_id=client_id,
                account_id=account_id,
                sso_session_id=sso_session_id,
                credentials_version=1,
                scope="openid",
                auth_time=int(now.timestamp()),
                issued_at=now,
                expires_at=now + timedelta(hours=8),
                family_expires_at=now + timedelta(days=30),
            )
        )
        session.add(
            AccessToken(
                jti=issued.jti,
                client_id=client_id,
                account_id=account_id,
                credentials_version=1,
                refresh_family_id=issued.family_id,
                scope="openid",
                issued_at=now,
                expires_at=now + timedelta(minutes=15),
            )
        )
    return issued


def signed_in(
    app: Flask, username: str = "mario.rossi", password: str = PASSWORD
) -> tuple[FlaskClient, uuid.UUID]:
    """A browser signed in through IAM's login page, and the id of its SSO session (the `sid`)."""
    browser = app.test_client()
    assert login(browser, username, password).status_code == 303
    cookie = browser.get_cookie(COOKIE)
    assert cookie is not None
    with db.transaction() as session:
        sid = session.execute(
            select(SsoSession.id).where(SsoSession.token_hash == hash_token(cookie.value))
        ).scalar_one()
    return browser, sid


def deliveries() -> list[LogoutDelivery]:
    with db.transaction() as session:
        rows = list(session.scalars(select(LogoutDelivery).order_by(LogoutDelivery.created_at)))
        session.expunge_all()
    return rows


def revoked(issued: Issued) -> tuple[bool, bool]:
    """Whether the refresh token and the access token of `issued` are revoked."""
    with db.transaction() as session:
        refresh = session.get_one(RefreshToken, issued.refresh_hash)
        access = session.get_one(AccessToken, issued.jti)
        return refresh.revoked_at is not None, access.revoked_at is not None


def verified(app: Flask, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a logout token, checked against IAM's published JWKS."""
    keys = KeySet.import_key_set(app.test_client().get("/oidc/jwks").get_json())
    decoded = jwt.decode(token, keys, algorithms=["ES256", "RS256"])
    return dict(decoded.header), dict(decoded.claims)


# --- RP-initiated logout ---------------------------------------------------------------------------------


def test_issue_5_item_4_rp_logout_sends_a_verifiable_logout_token_to_the_clients_of_that_session(
    app: Flask, receiver: Receiver
) -> None:
    account_id = make_account()
    browser, sid = signed_in(app)
    partner = tokens_issued(sid, PARTNER)
    silent = tokens_issued(sid, SILENT)
    _other_browser, other_sid = signed_in(app)
    elsewhere = tokens_issued(other_sid, PARTNER)

    assert browser.get("/oidc/logout").status_code == 200

    [owed] = deliveries()  # one row: the client without a back-channel URI is owed nothing
    assert (owed.client_id, owed.sso_session_id, owed.account_id) == (PARTNER, sid, account_id)
    assert revoked(partner) == (True, True) and revoked(silent) == (True, True)
    assert revoked(elsewhere) == (False, False)  # the other browser's session goes on

    now = datetime.now(UTC)
    report = deliver_due(db=db, policy=policy(), now=now)

    assert report.delivered == 1
    [request] = receiver.requests
    assert request["path"] == "/backchannel-logout"
    assert request["content_type"] == "application/x-www-form-urlencoded"
    header, claims = verified(app, receiver.logout_tokens()[0])
    assert header["typ"] == "logout+jwt" and header["alg"] == "ES256" and header["kid"]
    assert claims["iss"] == ISSUER and claims["aud"] == PARTNER
    assert claims["sub"] == str(account_id) and claims["sid"] == str(sid)
    assert claims["events"] == {EVENT: {}}
    assert claims["iat"] == int(now.timestamp()) and claims["exp"] == claims["iat"] + 120
    assert claims["jti"] and "nonce" not in claims
    [done] = deliveries()
    assert done.delivered_at is not None and done.attempts == 1

    assert deliver_due(db=db, policy=policy(), now=now + timedelta(hours=1)).attempted == 0
    assert len(receiver.requests) == 1  # delivered once, never again


def test_issue_5_item_4_logging_out_twice_owes_the_clients_one_logout(app: Flask) -> None:
    make_account()
    browser, sid = signed_in(app)
    tokens_issued(sid, PARTNER)
    cookie = browser.get_cookie(COOKIE)
    assert cookie is not None

    browser.get("/oidc/logout")
    replay = app.test_client()
    replay.set_cookie(COOKIE, cookie.value)  # the same cookie again (a second tab, a replay)
    replay.get("/oidc/logout")

    assert len(deliveries()) == 1


def test_issue_5_item_4_a_client_of_rs256_id_tokens_gets_an_rs256_logout_token(
    app: Flask, receiver: Receiver
) -> None:
    clients.ensure(
        db,
        client_id=PARTNER,
        name=PARTNER,
        secret=f"{PARTNER}-secret-0123456789abcdef",
        redirect_uris=[f"https://{PARTNER}.example/callback"],
        id_token_alg="RS256",
        backchannel_logout_uri=receiver.url,
    )
    logged_out_of_partner(app)

    assert deliver_due(db=db, policy=policy(), now=datetime.now(UTC)).delivered == 1
    header, claims = verified(app, receiver.logout_tokens()[0])
    assert header["alg"] == "RS256" and header["typ"] == "logout+jwt" and claims["aud"] == PARTNER


# --- every session of the account ends -------------------------------------------------------------------


def test_issue_5_item_4_d_acc_7_a_password_change_logs_every_session_out_of_every_client(
    app: Flask, receiver: Receiver
) -> None:
    account_id = make_account()
    browser, sid = signed_in(app)
    _phone, other_sid = signed_in(app)
    first, second, third = (
        tokens_issued(sid, PARTNER),
        tokens_issued(other_sid, PARTNER),
        tokens_issued(sid, SILENT),
    )

    changed = browser.post(
        "/api/iam/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )

    assert changed.status_code == 200, changed.get_json()
    assert {(row.client_id, row.sso_session_id) for row in deliveries()} == {
        (PARTNER, sid),
        (PARTNER, other_sid),
    }
    assert all(revoked(issued) == (True, True) for issued in (first, second, third))
    report = deliver_due(db=db, policy=policy(), now=datetime.now(UTC))
    assert report.delivered == 2
    claims = [verified(app, token)[1] for token in receiver.logout_tokens()]
    assert sorted(c["sid"] for c in claims) == sorted([str(sid), str(other_sid)])
    assert {c["sub"] for c in claims} == {str(account_id)}


def test_issue_5_item_4_an_ended_session_is_not_logged_out_again_by_a_password_change(app: Flask) -> None:
    make_account()
    browser, sid = signed_in(app)
    tokens_issued(sid, PARTNER)
    browser.get("/oidc/logout")
    other, other_sid = signed_in(app)
    tokens_issued(other_sid, PARTNER)

    other.post("/api/iam/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})

    assert sorted(str(row.sso_session_id) for row in deliveries()) == sorted([str(sid), str(other_sid)])


def test_issue_5_item_4_d_acc_2_an_officer_reset_ends_the_sessions_once_the_password_is_replaced(
    app: Flask, receiver: Receiver
) -> None:
    """The reset changes nothing until the temporary password is used (D-ACC-6); the forced change that
    follows ends every session of the account and tells its clients."""
    target_id = make_account(username="paolo.neri", institutional_email="paolo.neri@istruzione.it")
    officer_id = make_account(username="sara.conti")
    with db.transaction() as session:
        session.execute(update(Account).where(Account.id == target_id).values(kind=AccountKind.MI.value))
        session.execute(update(Account).where(Account.id == officer_id).values(roles=["security_officer"]))
    _browser, sid = signed_in(app, "paolo.neri")
    tokens_issued(sid, PARTNER)
    officer, _ = signed_in(app, "sara.conti")

    reset = officer.post(f"/api/iam/v1/security-officer/mi-accounts/{target_id}/password-reset", json={})

    assert reset.status_code == 202, reset.get_json()
    assert deliveries() == []  # D-ACC-6: nothing changes until the temporary password is used
    [issued] = events(db, "iam.temporary_password_issued")
    temporary = unseal(issued["data"]["temporary_password"])
    kiosk = app.test_client()
    assert login(kiosk, "paolo.neri", temporary).status_code == 303
    assert change_password(kiosk, NEW_PASSWORD).status_code == 303

    [owed] = deliveries()
    assert (owed.client_id, owed.sso_session_id) == (PARTNER, sid)
    assert deliver_due(db=db, policy=policy(), now=datetime.now(UTC)).delivered == 1
    assert verified(app, receiver.logout_tokens()[0])[1]["sid"] == str(sid)


def test_issue_5_item_4_a_client_without_a_back_channel_uri_is_owed_nothing(app: Flask) -> None:
    make_account()
    browser, sid = signed_in(app)
    tokens_issued(sid, SILENT)

    browser.post("/api/iam/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})

    assert deliveries() == []


# --- delivery: retries, bounds, no redirects, timeouts -----------------------------------------------------


def logged_out_of_partner(app: Flask) -> uuid.UUID:
    make_account()
    browser, sid = signed_in(app)
    tokens_issued(sid, PARTNER)
    browser.get("/oidc/logout")
    return sid


def test_a_failed_delivery_is_retried_later_and_not_repeated_after_success(
    app: Flask, receiver: Receiver
) -> None:
    logged_out_of_partner(app)
    receiver.statuses.append(500)
    start = datetime.now(UTC)

    first = deliver_due(db=db, policy=policy(), now=start)
    [row] = deliveries()
    assert first.retried == 1 and row.attempts == 1 and row.last_error == "HTTP 500"
    assert deliver_due(db=db, policy=policy(), now=start + timedelta(seconds=5)).attempted == 0  # not yet
    second = deliver_due(db=db, policy=policy(), now=start + timedelta(seconds=11))  # after the 10 s delay
    later = deliver_due(db=db, policy=policy(), now=start + timedelta(hours=2))

    assert second.delivered == 1 and later.attempted == 0
    assert len(receiver.requests) == 2
    [row] = deliveries()
    assert row.delivered_at is not None and row.attempts == 2
    first_token, second_token = (verified(app, token)[1] for token in receiver.logout_tokens())
    assert first_token["jti"] != second_token["jti"]  # each attempt is a fresh token
    assert first_token["sid"] == second_token["sid"]


def test_a_delivery_is_abandoned_after_the_last_attempt_with_a_warning_and_no_token_in_the_log(
    app: Flask, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    logged_out_of_partner(app)
    receiver.statuses.extend([503, 503, 503])
    bounded = policy(max_attempts=2, retry_delays=(10.0,), retention=timedelta(days=1))
    start = datetime.now(UTC)

    with caplog.at_level(logging.INFO, logger="iam.oidc.backchannel"):
        deliver_due(db=db, policy=bounded, now=start)
        last = deliver_due(db=db, policy=bounded, now=start + timedelta(seconds=11))
        after = deliver_due(db=db, policy=bounded, now=start + timedelta(hours=1))

    assert last.abandoned == 1 and after.attempted == 0 and len(receiver.requests) == 2
    [row] = deliveries()
    assert row.abandoned_at is not None and row.delivered_at is None and row.last_error == "HTTP 503"
    [warning] = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert warning.getMessage() == "back-channel logout abandoned"
    assert vars(warning)["delivery_id"] == str(row.id) and vars(warning)["client_id"] == PARTNER
    tokens = receiver.logout_tokens()
    assert not any(token in caplog.text or token.split(".")[1] in caplog.text for token in tokens)
    # Kept for inspection through the retention, then purged.
    assert deliver_due(db=db, policy=bounded, now=start + timedelta(days=1, seconds=12)).purged == 1
    assert deliveries() == []


def test_a_redirect_is_not_followed(app: Flask, receiver: Receiver) -> None:
    logged_out_of_partner(app)
    receiver.statuses.append(302)

    report = deliver_due(db=db, policy=policy(), now=datetime.now(UTC))

    assert report.retried == 1
    assert [request["path"] for request in receiver.requests] == ["/backchannel-logout"]
    assert deliveries()[0].last_error == "HTTP 302"


def test_a_client_that_does_not_answer_in_time_is_retried(app: Flask, receiver: Receiver) -> None:
    logged_out_of_partner(app)
    receiver.hold = threading.Event()  # the client reads the request and never answers (until released)

    report = deliver_due(db=db, policy=policy(read_timeout=0.3), now=datetime.now(UTC))
    receiver.hold.set()

    assert report.retried == 1
    [row] = deliveries()
    assert row.last_error is not None and "timed out" in row.last_error


def test_an_unreachable_client_is_retried(app: Flask) -> None:
    logged_out_of_partner(app)
    with db.transaction() as session:  # the partner moved its endpoint to a port where nobody listens
        session.get_one(OidcClient, PARTNER).backchannel_logout_uri = f"http://127.0.0.1:{free_port()}/logout"

    report = deliver_due(db=db, policy=policy(), now=datetime.now(UTC))

    assert report.retried == 1
    assert "ConnectionRefusedError" in (deliveries()[0].last_error or "")


# --- with the provider's own token endpoint (the lead's code and refresh grants) --------------------------


def test_issue_5_item_4_after_rp_logout_the_clients_refresh_token_is_refused(
    app: Flask, receiver: Receiver
) -> None:
    clients.ensure(
        db,
        client_id=PORTAL,
        name="Istanze OnLine",
        secret=PORTAL_SECRET,
        redirect_uris=["http://localhost:8080/accedi/callback"],
        post_logout_redirect_uris=["http://localhost:8080/"],
        backchannel_logout_uri=receiver.url,
    )
    make_account()
    browser = app.test_client()
    flow = full_login(browser)
    refresh_token = flow["token"].get("refresh_token")
    assert refresh_token, flow["token"]

    assert browser.get("/oidc/logout").status_code == 200
    refused = browser.post(
        "/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(PORTAL, PORTAL_SECRET),
    )

    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    assert deliver_due(db=db, policy=policy(), now=datetime.now(UTC)).delivered == 1
    claims = verified(app, receiver.logout_tokens()[0])[1]
    id_token_claims = jwt.decode(
        flow["token"]["id_token"], KeySet.import_key_set(app.test_client().get("/oidc/jwks").get_json())
    ).claims
    assert claims["sid"] == id_token_claims["sid"] and claims["aud"] == PORTAL
