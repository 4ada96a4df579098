"""Enablement end to end with real processes (issue 14): through the gateway, IAM's facts over RabbitMQ into
enablement's copy, PostgreSQL, enablement's outbox to the notifier and the SMTP sink. The emails and the text
of the adhesion form PDF are read as a person would. Rules: D-ENA-2, D-ENA-3, D-ENA-4, D-ENA-8, D-ENA-10."""

from __future__ import annotations

import io
import re
import urllib.parse
import uuid
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pypdf
import pytest
from bench.bench_common import active_account
from polis.db import Database
from polis.events import Event
from polis.events import outbox as events_outbox
from polis.events.sealing import DEV_KEY_ID, DEV_PUBLIC_KEY, Sealer
from polis.rpc import RpcClient
from polis.testing.helpers import wait_until
from support.browser import Browser
from support.stack import SystemStack
from test_login_e2e import PASSWORD, log_in

pytestmark = pytest.mark.slow

EMAIL_TIMEOUT = 60.0
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
TEMPORARY = re.compile(r"codice personale temporaneo è: (\S+)")
RECEIPT = re.compile(r"(http\S+/abilitazione/ricevuta\?token=\S+)")
CF = "VRDLCU85M41F205Z"
# An alphanumeric password, so that a personal code equal to it passes the policy and only IAM can refuse it.
ALNUM_PASSWORD = "Lampione2026Viola"
ANSWER = "Micio Tigre"  # the security answer (case-sensitive, D-ENA-5)
NEW_CODE = "Girasole2042"
RECOVERED = re.compile(r"codice personale[^:]*: (\S+)")


def create_account(
    stack: SystemStack,
    username: str,
    *,
    roles: list[str] | None = None,
    codice_fiscale: str | None = None,
    password: str = PASSWORD,
    **columns: Any,
) -> uuid.UUID:
    """An active account in IAM's database and its iam.account_registered fact in IAM's outbox, as
    registration leaves them; IAM's relay publishes it to enablement and the notifier. `columns`: more of
    the account's columns (and `now`, when it was created) for bench_common.active_account."""
    from iam import events as iam_events
    from iam.accounts.service import registered_event
    from iam.passwords.hashing import hash_secret

    account_id = uuid.uuid4()
    database = Database(stack.database_url("iam"))
    with database.transaction() as session:
        account = active_account(
            username,
            id=account_id,
            password_hash=hash_secret(password),
            roles=roles or [],
            codice_fiscale=codice_fiscale or uuid.uuid4().hex[:16].upper(),
            first_name="Lucia",
            last_name="Verdi",
            security_answer_hash=hash_secret(ANSWER),
            **columns,
        )
        session.add(account)
        iam_events.record(session, registered_event(account))  # as registration records it
    database.dispose()
    return account_id


def revoke(stack: SystemStack, account_id: uuid.UUID) -> None:
    """IAM's iam.account_revoked fact, in IAM's outbox as its revocation round leaves it (D-REV-3)."""
    from iam.models import outbox

    database = Database(stack.database_url("iam"))
    with database.transaction() as session:
        events_outbox.record(
            session,
            Event.new(
                "iam.account_revoked",
                {
                    "account_id": str(account_id),
                    "reason": "inactivity",
                    "round_id": str(uuid.uuid4()),
                    "revoked_at": datetime.now(UTC).isoformat(),
                },
                producer="iam",
            ),
            outbox,
        )
    database.dispose()


def assign_operator(stack: SystemStack, operator_id: uuid.UUID, office_code: str) -> None:
    """What ops does with POST /ops/operators, straight in enablement's database."""
    from enablement.offices import service as offices

    database = Database(stack.database_url("enablement"))
    with database.transaction() as session:
        offices.assign(
            session, operator_id=operator_id, office=offices.by_code(session, office_code), assigned_by="t"
        )
    database.dispose()


def text(message: EmailMessage) -> str:
    return "\n".join(p.get_content() for p in message.walk() if p.get_content_type() == "text/plain")


def pdf_text(message: EmailMessage) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "application/pdf")
    return "\n".join(
        page.extract_text() for page in pypdf.PdfReader(io.BytesIO(part.get_payload(decode=True))).pages
    )


def signed_in(stack: SystemStack, username: str, password: str = PASSWORD) -> Browser:
    browser = Browser(stack.url())
    status, _, page = log_in(browser, username, password)
    assert status == 200, (browser.trail, page[:300])
    return browser


def known_to_enablement(browser: Browser) -> None:
    wait_until(
        lambda: "personal_data" in browser.api("/api/enablement/v1/enablement")[1], timeout=EMAIL_TIMEOUT
    )


def document(office_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "office_id": office_id,
        "document_type": "carta_identita",
        "document_number": "CA00000AA",
        "document_issuer": "Comune di Milano",
        "document_issued_on": (date.today() - timedelta(days=900)).isoformat(),
        "document_expires_on": (date.today() + timedelta(days=900)).isoformat(),
        "form_signed": True,
        **changes,
    }


def test_request_email_form_identification_and_activation(stack_factory: Any) -> None:
    """D-ENA-2: the request, the email with the temporary code, the receipt link and the form (PDF text);
    D-ENA-3/10: an operator of the office confirms after refusing an expired document, an operator of
    another office is refused; D-ENA-4: the activation email; the code must be changed first; D-ENA-7:
    regeneration and re-identification; D-REV-3: revocation ends the enablement."""
    stack = stack_factory(databases="postgresql")
    user_id = create_account(stack, "lucia.verdi", codice_fiscale=CF, password=ALNUM_PASSWORD)
    operator_id = create_account(stack, "carla.operatrice", roles=["operator"])
    other_id = create_account(stack, "dario.operatore", roles=["operator"])
    assign_operator(stack, operator_id, "RMIC8AB00X")
    assign_operator(stack, other_id, "MIPS01000C")
    user = signed_in(stack, "lucia.verdi", ALNUM_PASSWORD)
    known_to_enablement(user)

    status, body = user.api(
        "/api/enablement/v1/requests", {"codice_fiscale": CF, "data_confirmed": True}, headers=SAME_ORIGIN
    )
    assert status == 201, body
    number = body["number"]

    [message] = stack.smtp.wait_for_email("lucia.verdi@example.org", 1, timeout=EMAIL_TIMEOUT)
    mail = text(message)
    temporary = TEMPORARY.search(mail).group(1)  # type: ignore[union-attr]
    assert len(temporary) == 10 and not set(temporary) & set("0O1lIo")
    form = pdf_text(message)
    for expected in (number, CF, "Verdi", "Lucia", "Dichiarazione", "Istituto Comprensivo Via Roma"):
        assert expected in form
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(RECEIPT.search(mail).group(1)).query)["token"][0]  # type: ignore[union-attr]
    assert user.api("/api/enablement/v1/receipt", {"token": token}, headers=SAME_ORIGIN)[0] == 200
    again = user.api("/api/enablement/v1/receipt", {"token": token}, headers=SAME_ORIGIN)
    assert again[0] == 400 and again[1]["error"]["code"] == "invalid_link"

    operator = signed_in(stack, "carla.operatrice")
    status, found = operator.api(f"/api/enablement/v1/operator/requests?number={number}")
    assert status == 200 and found["codice_fiscale"] == CF
    assert operator.api("/api/enablement/v1/operator/requests?number=ENA-ZZZZ-ZZZZ")[0] == 404
    office_id = operator.api("/api/enablement/v1/operator/offices")[1]["offices"][0]["id"]
    confirm = f"/api/enablement/v1/operator/requests/{found['id']}/confirm"
    expired = operator.api(
        confirm, document(office_id, document_expires_on="2020-01-31"), headers=SAME_ORIGIN
    )
    assert expired[0] == 400 and "document_expires_on" in expired[1]["error"]["fields"]
    foreign = signed_in(stack, "dario.operatore").api(confirm, document(office_id), headers=SAME_ORIGIN)
    assert foreign[0] == 403

    assert operator.api(confirm, document(office_id), headers=SAME_ORIGIN)[0] == 200

    activated = stack.smtp.wait_for_email("lucia.verdi@example.org", 2, timeout=EMAIL_TIMEOUT)[1]
    assert "Istituto Comprensivo Via Roma" in text(activated)
    assert user.api("/api/enablement/v1/enablement")[1]["state"] == "must_change"
    # The ops API: refused at the public edge (issue 11 item 7); on enablement's address it wants a token.
    assert Browser(stack.url()).api("/api/enablement/v1/ops/identifications")[0] == 404
    assert Browser(stack.api("enablement")).api("/api/enablement/v1/ops/identifications")[0] == 401

    # D-ENA-4, D-ENA-9 over real RPC: the temporary code answers must_change; the password is refused by
    # IAM's answer (iam.check_password); then the user's own code works for other services.
    # The stack runs with POLIS_ENV=dev: enablement opens RPC fields with the development key pair.
    rpc = RpcClient(
        stack.broker_url, timeout=10.0, sealers={"enablement": Sealer(DEV_PUBLIC_KEY, DEV_KEY_ID)}
    )
    check = "enablement.check_personal_code"
    assert rpc.call(check, {"account_id": str(user_id), "personal_code": temporary}) == {
        "valid": False,
        "status": "must_change",
    }
    change = "/api/enablement/v1/personal-code/change"
    is_password = user.api(
        change, {"current_code": temporary, "new_code": ALNUM_PASSWORD}, headers=SAME_ORIGIN
    )
    assert is_password[0] == 400 and is_password[1]["error"]["fields"]["new_code"] == ["code_is_password"]
    assert user.api(change, {"current_code": temporary, "new_code": NEW_CODE}, headers=SAME_ORIGIN)[0] == 200
    assert rpc.call(check, {"account_id": str(user_id), "personal_code": NEW_CODE})["status"] == "ok"
    assert rpc.call(check, {"account_id": str(user_id), "personal_code": "Sbagliato123"})["status"] == "wrong"
    stack.smtp.wait_for_email("lucia.verdi@example.org", 3, timeout=EMAIL_TIMEOUT)  # personal code changed

    # D-ENA-5 over real RPC: the answer is case-sensitive (iam.check_security_answer); the new code arrives
    # by email and works.
    recover = "/api/enablement/v1/personal-code/recover"
    wrong = user.api(recover, {"codice_fiscale": CF, "security_answer": ANSWER.lower()}, headers=SAME_ORIGIN)
    assert wrong[0] == 400 and wrong[1]["error"]["code"] == "recovery_refused"
    assert user.api(recover, {"codice_fiscale": CF, "security_answer": ANSWER}, headers=SAME_ORIGIN)[0] == 200
    recovered_mail = stack.smtp.wait_for_email("lucia.verdi@example.org", 4, timeout=EMAIL_TIMEOUT)[-1]
    recovered = RECOVERED.search(text(recovered_mail)).group(1)  # type: ignore[union-attr]
    assert rpc.call(check, {"account_id": str(user_id), "personal_code": recovered})["status"] == "ok"
    assert rpc.call(check, {"account_id": str(user_id), "personal_code": NEW_CODE})["status"] == "wrong"

    # D-ENA-7: regenerate (confirmed first): the old code stops, a new code and form come, and only a new
    # identification in an office makes it work.
    assert (
        user.api("/api/enablement/v1/personal-code/regenerate", {"confirm": True}, headers=SAME_ORIGIN)[0]
        == 201
    )
    messages = stack.smtp.wait_for_email("lucia.verdi@example.org", 6, timeout=EMAIL_TIMEOUT)
    assert any("rigenerat" in str(m["Subject"]).lower() for m in messages)
    renewed = next(m for m in reversed(messages) if TEMPORARY.search(text(m)))
    assert TEMPORARY.search(text(renewed)).group(1) != temporary  # type: ignore[union-attr]
    status, state = user.api("/api/enablement/v1/enablement")
    assert state["state"] == "pending" and state["request"]["number"] != number
    again = operator.api(f"/api/enablement/v1/operator/requests?number={state['request']['number']}")[1]
    confirm = f"/api/enablement/v1/operator/requests/{again['id']}/confirm"
    assert operator.api(confirm, document(office_id), headers=SAME_ORIGIN)[0] == 200
    assert user.api("/api/enablement/v1/enablement")[1]["state"] == "must_change"
    assert rpc.call(check, {"account_id": str(user_id), "personal_code": recovered})["status"] == "wrong"

    # D-REV-3: IAM revokes the account; its fact ends the enablement.
    revoke(stack, user_id)
    wait_until(
        lambda: user.api("/api/enablement/v1/enablement")[1]["state"] == "ended", timeout=EMAIL_TIMEOUT
    )


def test_a_pending_request_expires(stack_factory: Any) -> None:
    """D-ENA-8: the worker reminds (here at once: the period is shorter than the 7-day notice), then expires
    a request not confirmed in time; the user may start again."""
    stack = stack_factory(
        process_env={
            "enablement": {
                "ENABLEMENT_REQUEST_TTL_DAYS": "0.00005",
                "ENABLEMENT_EXPIRY_INTERVAL_SECONDS": "0.5",
            }
        }
    )
    create_account(stack, "lucia.verdi", codice_fiscale=CF)
    user = signed_in(stack, "lucia.verdi")
    known_to_enablement(user)
    assert (
        user.api(
            "/api/enablement/v1/requests", {"codice_fiscale": CF, "data_confirmed": True}, headers=SAME_ORIGIN
        )[0]
        == 201
    )

    wait_until(lambda: user.api("/api/enablement/v1/enablement")[1]["state"] == "expired", timeout=30)
    messages = stack.smtp.wait_for_email("lucia.verdi@example.org", 2, timeout=EMAIL_TIMEOUT)
    number = user.api("/api/enablement/v1/enablement")[1]["request"]["number"]
    reminder = next(m for m in messages if "scadere" in str(m["Subject"]))
    assert number in text(reminder)

    assert (
        user.api(
            "/api/enablement/v1/requests", {"codice_fiscale": CF, "data_confirmed": True}, headers=SAME_ORIGIN
        )[0]
        == 201
    )


def test_demo_data_enables_mario_rossi_and_leaves_a_pending_request(stack: SystemStack) -> None:
    """make run's demo data (issue 14 item 10): offices, operators, mario.rossi enabled, giulia.bianchi
    pending."""
    from iam.demo import DEMO_ACCOUNTS

    passwords = {entry.username: entry.password for entry in DEMO_ACCOUNTS}
    states = {}
    for username in ("mario.rossi", "giulia.bianchi"):
        browser = Browser(stack.url())
        status, _, page = log_in(browser, username, passwords[username])
        assert status == 200, (browser.trail, page[:300])
        wait_until(
            lambda b=browser: "request" in b.api("/api/enablement/v1/enablement")[1], timeout=EMAIL_TIMEOUT
        )
        states[username] = browser.api("/api/enablement/v1/enablement")[1]["state"]
    assert states == {"mario.rossi": "enabled", "giulia.bianchi": "pending"}
    operator = Browser(stack.url())
    assert log_in(operator, "paolo.neri", passwords["paolo.neri"])[0] == 200
    codes = [office["code"] for office in operator.api("/api/enablement/v1/operator/offices")[1]["offices"]]
    assert codes == ["RMIC8AB00X"]
