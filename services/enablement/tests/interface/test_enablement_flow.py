"""The enablement API end to end in one process (IAM's answers faked; the real-process tests are separate):
request -> form and sealed code -> receipt link -> identification -> forced change -> checks with throttling
-> recovery -> regenerate -> expiry -> revocation. Rule ids: D-ENA-1 .. D-ENA-10, D-REV-3."""

from __future__ import annotations

import base64
import io
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import polis
import pypdf
import pytest
from enablement.extensions import db
from enablement.messaging import rpc
from enablement.messaging.handlers import HANDLERS
from enablement.models import outbox
from enablement.offices import service as offices
from enablement.personal_codes import policy as code_policy
from enablement.personal_codes.service import CodePolicy
from enablement.requests import expiry as requests_expiry
from enablement.requests import service as requests_service
from enablement_support import ANSWER, PASSWORD
from flask.testing import FlaskClient
from polis.events import Event
from polis.events.sealing import DEV_KEY_ID, DEV_PRIVATE_KEY, Opener
from polis.testing.token_contract import bearer
from polis.testing.tokens import TestIssuer
from sqlalchemy import select

AUDIENCE = "urn:polis:enablement"
API = "/api/enablement/v1"
OPENER = Opener({DEV_KEY_ID: DEV_PRIVATE_KEY})
CF = "RSSMRA80A01H501U"


def _register(username: str, *, email: str | None = None) -> uuid.UUID:
    account_id = uuid.uuid4()
    event = Event.new(
        "iam.account_registered",
        {
            "account_id": str(account_id),
            "kind": "ordinary",
            "state": "active",
            "username": username,
            "first_name": "Mario",
            "last_name": "Rossi",
            "language": "it",
            "personal_email": email or f"{username}@example.it",
            "institutional_email": None,
        },
        producer="iam",
    )
    with db.transaction() as session:
        HANDLERS[event.type](session, event)
    return account_id


def _user(issuer: TestIssuer, account_id: uuid.UUID) -> dict[str, str]:
    return bearer(issuer.token(audience=AUDIENCE, sub=str(account_id)))


def _operator(issuer: TestIssuer, account_id: uuid.UUID) -> dict[str, str]:
    return bearer(issuer.token(audience=AUDIENCE, sub=str(account_id), roles=["user", "operator"]))


def _events(kind: str) -> list[dict[str, Any]]:
    with db.transaction() as session:
        rows = session.execute(
            select(outbox.c.payload).where(outbox.c.event_type == kind).order_by(outbox.c.id)
        )
        return [json.loads(payload)["data"] for (payload,) in rows]


def _offices() -> tuple[uuid.UUID, uuid.UUID]:
    with db.transaction() as session:
        a = offices.ensure_office(
            session, code="RMIC8AB00X", kind="school", name="IC Via Roma", address="Roma"
        )
        b = offices.ensure_office(
            session, code="MIPS01000C", kind="school", name="Liceo Galilei", address="Milano"
        )
        return a.id, b.id


def _assign(operator_id: uuid.UUID, office_code: str) -> None:
    with db.transaction() as session:
        offices.assign(
            session, operator_id=operator_id, office=offices.by_code(session, office_code), assigned_by="t"
        )


def _document(office_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    body = {
        "office_id": str(office_id),
        "document_type": "cie",
        "document_number": "CA12345AB",
        "document_issuer": "Comune di Roma",
        "document_issued_on": (date.today() - timedelta(days=400)).isoformat(),
        "document_expires_on": (date.today() + timedelta(days=400)).isoformat(),
        "form_signed": True,
    }
    return {**body, **changes}


RPC_CONTRACTS = Path(polis.__file__).parent / "rpc" / "contracts"


def _contract(kind: str) -> Any:
    path = RPC_CONTRACTS / f"enablement.check_personal_code.{kind}.v1.json"
    return jsonschema.Draft202012Validator(json.loads(path.read_text()))


def _check(app: Any, account_id: uuid.UUID, code: str) -> dict[str, Any]:
    """The RPC handler called as the responder calls it; request and reply checked against the contracts."""
    handle = rpc.handlers(db=db, policy=CodePolicy.from_settings(app.config))[rpc.CHECK_PERSONAL_CODE]
    payload = {"account_id": str(account_id), "personal_code": code}
    _contract("request").validate(payload)
    reply = handle(payload)
    _contract("reply").validate(reply)
    return reply


def _start(client: FlaskClient, issuer: TestIssuer, user: uuid.UUID) -> tuple[dict[str, Any], str]:
    response = client.post(
        f"{API}/requests", json={"codice_fiscale": CF, "data_confirmed": True}, headers=_user(issuer, user)
    )
    assert response.status_code == 201, response.get_json()
    message = _events("enablement.requested")[-1]
    return response.get_json(), OPENER.open(message["temporary_personal_code"])


def _identified(app: Any, issuer: TestIssuer) -> tuple[FlaskClient, uuid.UUID, str]:
    client = app.test_client()
    office_a, _ = _offices()
    user, operator = _register("mario.rossi"), uuid.uuid4()
    _assign(operator, "RMIC8AB00X")
    body, code = _start(client, issuer, user)
    response = client.post(
        f"{API}/operator/requests/{body['id']}/confirm",
        json=_document(office_a),
        headers=_operator(issuer, operator),
    )
    assert response.status_code == 200, response.get_json()
    return client, user, code


def test_the_request_sends_a_sealed_code_the_form_and_a_single_use_link(app: Any, issuer: TestIssuer) -> None:
    """D-ENA-2, D-ENA-9, D-ENA-10: number, form PDF (data, number, offices), code without look-alikes."""
    client = app.test_client()
    _offices()
    user = _register("mario.rossi")
    assert client.get(f"{API}/enablement", headers=_user(issuer, user)).get_json()["state"] == "not_requested"

    body, code = _start(client, issuer, user)

    assert re.fullmatch(r"ENA-[A-Z2-9]{4}-[A-Z2-9]{4}", body["number"])
    assert len(code) == 10 and not set(code) & set("0O1lIo") and code.isalnum()
    message = _events("enablement.requested")[-1]
    assert code not in json.dumps(message)  # only sealed
    pdf = base64.b64decode(message["adhesion_form"]["content_base64"])
    text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    for expected in (body["number"], CF, "Rossi", "Mario", "Dichiarazione", "IC Via Roma", "Liceo Galilei"):
        assert expected in text
    download = client.get(f"{API}/requests/current/form.pdf", headers=_user(issuer, user))
    assert (
        download.mimetype == "application/pdf"
        and body["number"] in pypdf.PdfReader(io.BytesIO(download.data)).pages[0].extract_text()
    )
    assert client.get(f"{API}/enablement", headers=_user(issuer, user)).get_json()["state"] == "pending"
    # The pending code does not work yet: the person has not been identified (D-ENA-3).
    assert _check(app, user, code)["status"] == "not_enabled"

    url = OPENER.open(message["receipt_confirmation_url"])
    token = url.split("token=", 1)[1]
    assert (
        client.post(f"{API}/receipt", json={"token": token + "x"}).get_json()["error"]["code"]
        == "invalid_link"
    )
    assert client.post(f"{API}/receipt", json={"token": token}).status_code == 200
    again = client.post(f"{API}/receipt", json={"token": token})
    assert again.status_code == 400 and again.get_json()["error"]["code"] == "invalid_link"
    # A second request while one waits is refused; nothing half-saved.
    second = client.post(
        f"{API}/requests", json={"codice_fiscale": CF, "data_confirmed": True}, headers=_user(issuer, user)
    )
    assert second.status_code == 409 and len(_events("enablement.requested")) == 1


def test_bad_input_is_refused_field_by_field_and_saves_nothing(app: Any, issuer: TestIssuer) -> None:
    client = app.test_client()
    user = _register("mario.rossi")
    response = client.post(
        f"{API}/requests",
        json={"codice_fiscale": "short", "data_confirmed": False, "extra": 1},
        headers=_user(issuer, user),
    )
    assert response.status_code == 400
    assert set(response.get_json()["error"]["fields"]) == {"codice_fiscale", "data_confirmed", "extra"}
    assert _events("enablement.requested") == []


def test_operators_identify_only_for_their_offices_with_a_valid_document(
    app: Any, issuer: TestIssuer
) -> None:
    """D-ENA-3, D-ENA-10: find by number or codice fiscale; expired document refused; other office refused;
    never one's own request; audited and listed for ops; activation message (D-ENA-4)."""
    client = app.test_client()
    office_a, office_b = _offices()
    user, operator, other = _register("mario.rossi"), uuid.uuid4(), uuid.uuid4()
    _assign(operator, "RMIC8AB00X")
    _assign(other, "MIPS01000C")
    body, _code = _start(client, issuer, user)
    headers = _operator(issuer, operator)

    assert (
        client.get(f"{API}/operator/requests?number={body['number']}", headers=headers).get_json()["id"]
        == body["id"]
    )
    assert (
        client.get(f"{API}/operator/requests?codice_fiscale={CF}", headers=headers).get_json()["number"]
        == body["number"]
    )
    missing = client.get(f"{API}/operator/requests?number=ENA-ZZZZ-ZZZZ", headers=headers)
    assert missing.status_code == 404 and "Mario" not in missing.get_data(as_text=True)
    unassigned = client.get(
        f"{API}/operator/requests?number={body['number']}", headers=_operator(issuer, uuid.uuid4())
    )
    assert unassigned.status_code == 403

    url = f"{API}/operator/requests/{body['id']}/confirm"
    expired = client.post(
        url,
        json=_document(office_a, document_expires_on=(date.today() - timedelta(days=1)).isoformat()),
        headers=headers,
    )
    assert expired.status_code == 400 and "document_expires_on" in expired.get_json()["error"]["fields"]
    foreign = client.post(url, json=_document(office_a), headers=_operator(issuer, other))
    assert foreign.status_code == 403
    not_mine = client.post(url, json=_document(office_b), headers=headers)
    assert not_mine.status_code == 403
    _assign(user, "RMIC8AB00X")  # the applicant is an operator of the office too
    own = client.post(url, json=_document(office_a), headers=_operator(issuer, user))
    assert own.status_code == 403
    assert _events("enablement.activated") == []

    assert client.post(url, json=_document(office_a), headers=headers).status_code == 200

    activated = _events("enablement.activated")
    assert activated == [
        {
            "account_id": str(user),
            "enablement_id": body["id"],
            "activated_at": activated[0]["activated_at"],
            "office_name": "IC Via Roma",
        }
    ]
    assert client.get(f"{API}/enablement", headers=_user(issuer, user)).get_json()["state"] == "must_change"
    ops = bearer(
        issuer.token(
            audience=AUDIENCE, sub="ops", client_id="ops", auth_time=None, scope="enablement", roles=["ops"]
        )
    )
    listed = client.get(f"{API}/ops/identifications", headers=ops).get_json()["identifications"]
    assert listed[0]["request_number"] == body["number"] and listed[0]["office"] == "RMIC8AB00X"
    assert listed[0]["operator_id"] == str(operator) and listed[0]["document_number"] == "CA12345AB"
    assert client.get(f"{API}/operator/requests?number={body['number']}", headers=headers).status_code == 404


def test_the_temporary_code_must_be_changed_first_by_the_policy(app: Any, issuer: TestIssuer) -> None:
    """D-ENA-4, D-ENA-6, D-ENA-9: must_change until replaced; alphanumeric, length, not common, not the
    password (asked of IAM), not the temporary code."""
    client, user, temporary = _identified(app, issuer)
    assert _check(app, user, temporary) == {"valid": False, "status": "must_change"}
    change = f"{API}/personal-code/change"
    headers = _user(issuer, user)
    for new_code, problem in (
        ("short1", "code_too_short"),
        ("with space 1", "code_not_alphanumeric"),
        ("password123", "code_common"),
        (PASSWORD, "code_is_password"),
    ):
        response = client.post(
            change, json={"current_code": temporary, "new_code": new_code}, headers=headers
        )
        assert (
            response.status_code == 400 and problem in response.get_json()["error"]["fields"]["new_code"]
        ), new_code
    assert (
        client.post(
            change, json={"current_code": temporary, "new_code": temporary}, headers=headers
        ).status_code
        == 400
    )

    assert (
        client.post(
            change, json={"current_code": temporary, "new_code": "Girasole42"}, headers=headers
        ).status_code
        == 200
    )

    assert _check(app, user, "Girasole42") == {"valid": True, "status": "ok"}
    assert _check(app, user, temporary)["status"] == "wrong"
    assert client.get(f"{API}/enablement", headers=headers).get_json()["state"] == "enabled"
    assert len(_events("enablement.personal_code_changed")) == 1


def test_wrong_codes_are_counted_delayed_and_locked(app: Any, issuer: TestIssuer) -> None:
    """D-ENA-9: counted per account, a temporary lock after repeated failures, audited; a right code
    during the lock is refused too."""
    client, user, temporary = _identified(app, issuer)
    client.post(
        f"{API}/personal-code/change",
        json={"current_code": temporary, "new_code": "Girasole42"},
        headers=_user(issuer, user),
    )
    statuses = [_check(app, user, "Sbagliato99")["status"] for _ in range(4)]
    assert statuses == ["wrong", "wrong", "wrong", "locked"]
    locked = _check(app, user, "Girasole42")
    assert locked["status"] == "locked" and locked["retry_after"] > 0
    from enablement.audit.models import AuditEntry

    with db.transaction() as session:
        actions = [a.action for a in session.scalars(select(AuditEntry).where(AuditEntry.account_id == user))]
    assert actions.count("personal_code.wrong") == 4 and "personal_code.locked" in actions


def test_growing_delays_between_wrong_codes(app: Any) -> None:
    """D-ENA-9: after the first failures each try waits longer (2 s, 4 s, ...): a try too soon is refused
    unverified."""
    from enablement.personal_codes import service as codes
    from enablement.personal_codes.models import ACTIVE, PersonalCode

    policy = CodePolicy.from_settings(
        {**app.config, "CODE_DELAY_STEP_SECONDS": 2.0, "CODE_LOCK_THRESHOLD": 10}
    )
    account = uuid.uuid4()
    now = datetime.now(UTC)
    with db.transaction() as session:
        session.add(
            PersonalCode(
                account_id=account,
                code_hash=policy.hasher.hash("Girasole42"),
                state=ACTIVE,
                failures=0,
                recovery_failures=0,
                changed_at=now,
            )
        )

    def at(seconds: float, code: str = "Sbagliato1") -> codes.CheckResult:
        with db.transaction() as session:
            return codes.check_in_session(
                session,
                policy=policy,
                account_id=account,
                code=code,
                caller="t",
                now=now + timedelta(seconds=seconds),
            )

    assert at(0).status == "wrong" and at(0.1).status == "wrong"
    assert at(1.0) == codes.CheckResult("locked", retry_after=2)  # 2 s after the 2nd failure
    assert at(2.2).status == "wrong"  # 3rd failure: now 4 s
    assert at(5.0).status == "locked"
    assert at(6.3, "Girasole42").status == "ok"  # a right code resets the counter
    assert at(6.4).status == "wrong"


def test_a_hash_made_with_other_parameters_is_redone(app: Any) -> None:
    """D-ENA-9: argon2id at the configured (OWASP) parameters; an older hash is rehashed on success."""
    from enablement.personal_codes import hashing
    from enablement.personal_codes import service as codes
    from enablement.personal_codes.models import ACTIVE, PersonalCode

    account = uuid.uuid4()
    old = hashing.hasher(512, 1).hash("Girasole42")
    with db.transaction() as session:
        session.add(
            PersonalCode(
                account_id=account,
                code_hash=old,
                state=ACTIVE,
                failures=0,
                recovery_failures=0,
                changed_at=datetime.now(UTC),
            )
        )
    policy = CodePolicy.from_settings(app.config)
    assert codes.check(db=db, policy=policy, account_id=account, code="Girasole42", caller="t").valid
    with db.transaction() as session:
        stored = session.get(PersonalCode, account).code_hash
    assert stored != old and stored.startswith("$argon2id$") and "m=1024" in stored


def test_recovery_asks_the_codice_fiscale_and_the_answer_and_locks(app: Any, issuer: TestIssuer) -> None:
    """D-ENA-5: case-sensitive answer checked by IAM; the new code goes sealed to the reference address
    only; wrong answers lock recovery (audited)."""
    client, user, _temporary = _identified(app, issuer)
    headers = _user(issuer, user)
    recover = f"{API}/personal-code/recover"
    wrong = client.post(
        recover, json={"codice_fiscale": CF, "security_answer": ANSWER.lower()}, headers=headers
    )
    assert wrong.status_code == 400 and wrong.get_json()["error"]["code"] == "recovery_refused"
    assert (
        client.post(
            recover, json={"codice_fiscale": "BNCGLI85M41F205X", "security_answer": ANSWER}, headers=headers
        ).status_code
        == 400
    )

    assert (
        client.post(
            recover, json={"codice_fiscale": CF.lower(), "security_answer": ANSWER}, headers=headers
        ).status_code
        == 200
    )

    recovered = _events("enablement.personal_code_recovered")
    assert len(recovered) == 1
    new_code = OPENER.open(recovered[0]["personal_code"])
    assert _check(app, user, new_code) == {"valid": True, "status": "ok"}
    for _ in range(3):
        client.post(recover, json={"codice_fiscale": CF, "security_answer": "no"}, headers=headers)
    locked = client.post(recover, json={"codice_fiscale": CF, "security_answer": ANSWER}, headers=headers)
    assert locked.status_code == 429 and locked.get_json()["error"]["code"] == "recovery_locked"
    assert len(_events("enablement.personal_code_recovered")) == 1


def test_regenerate_stops_the_old_code_and_needs_a_new_identification(app: Any, issuer: TestIssuer) -> None:
    """D-ENA-7: the old code stops at once; a new request (code, form) waits for an office; ended fact."""
    client, user, temporary = _identified(app, issuer)
    headers = _user(issuer, user)
    client.post(
        f"{API}/personal-code/change",
        json={"current_code": temporary, "new_code": "Girasole42"},
        headers=headers,
    )
    assert (
        client.post(f"{API}/personal-code/regenerate", json={"confirm": False}, headers=headers).status_code
        == 400
    )
    assert _check(app, user, "Girasole42")["status"] == "ok"

    response = client.post(f"{API}/personal-code/regenerate", json={"confirm": True}, headers=headers)

    assert response.status_code == 201
    assert _check(app, user, "Girasole42")["status"] == "not_enabled"
    new_temporary = OPENER.open(_events("enablement.requested")[-1]["temporary_personal_code"])
    assert _check(app, user, new_temporary)["status"] == "not_enabled"
    assert len(_events("enablement.personal_code_regenerated")) == 1
    assert _events("enablement.ended")[-1]["reason"] == "regenerated"
    assert client.get(f"{API}/enablement", headers=headers).get_json()["state"] == "pending"


def test_a_pending_request_expires_and_the_user_may_start_again(app: Any, issuer: TestIssuer) -> None:
    """D-ENA-8: a reminder a week before; not confirmed within the period, it expires (the worker's
    round); a new request is allowed."""
    client = app.test_client()
    _offices()
    user = _register("mario.rossi")
    body, _code = _start(client, issuer, user)
    assert requests_expiry.expire_due(db=db) == 0
    week = timedelta(days=7)
    assert requests_expiry.remind_due(db=db, reminder_before=week) == 0  # 60 days left
    in_54_days = datetime.now(UTC) + timedelta(days=54)
    assert requests_expiry.remind_due(db=db, reminder_before=week, now=in_54_days) == 1
    assert requests_expiry.remind_due(db=db, reminder_before=week, now=in_54_days) == 0  # once
    [reminder] = _events("enablement.expiry_reminder")
    assert reminder["request_number"] == body["number"]
    assert requests_expiry.expire_due(db=db, now=datetime.now(UTC) + timedelta(days=61)) == 1
    assert client.get(f"{API}/enablement", headers=_user(issuer, user)).get_json()["state"] == "expired"
    again, _ = _start(client, issuer, user)
    assert again["number"] != body["number"]


def test_revocation_ends_the_enablement(app: Any, issuer: TestIssuer) -> None:
    """D-REV-3: iam.account_revoked ends the enablement: no code works; enablement.ended for istanze."""
    _client, user, temporary = _identified(app, issuer)
    event = Event.new(
        "iam.account_revoked",
        {
            "account_id": str(user),
            "reason": "inactive",
            "round_id": str(uuid.uuid4()),
            "revoked_at": datetime.now(UTC).isoformat(),
        },
        producer="iam",
    )
    with db.transaction() as session:
        HANDLERS[event.type](session, event)
    assert _check(app, user, temporary)["status"] == "not_enabled"
    assert _events("enablement.ended")[-1]["reason"] == "revoked"


def test_the_temporary_code_alphabet_has_no_look_alikes() -> None:
    """D-ENA-9."""
    assert not set(code_policy.ALPHABET) & set("0O1lIo")
    assert all(code_policy.problems(code_policy.generate_temporary(), min_length=8) == [] for _ in range(50))


def test_an_expired_receipt_link_says_so_and_changes_nothing(app: Any, issuer: TestIssuer) -> None:
    """D-ENA-2 bad input: a link older than the request's period is refused like a forged one."""
    import dataclasses

    client = app.test_client()
    _offices()
    user = _register("mario.rossi")
    _start(client, issuer, user)
    token = OPENER.open(_events("enablement.requested")[-1]["receipt_confirmation_url"]).split("token=", 1)[1]
    expired = dataclasses.replace(app.extensions["enablement.request_policy"], ttl=timedelta(seconds=-1))
    with pytest.raises(requests_service.InvalidLink):
        requests_service.confirm_receipt(db=db, policy=expired, token=token)
    status = client.get(f"{API}/enablement", headers=_user(issuer, user)).get_json()
    assert status["request"]["receipt_confirmed"] is False
