"""D-IST-3/6: withdrawing a submission ("annulla inoltro") before the deadline, by the server's clock at the
request's arrival; the application is a draft again and a new submission takes a new protocol number, the
withdrawn one kept on record and never reused; after the deadline nothing can be withdrawn."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from istanze.applications import service
from istanze.applications.views import CHECKER
from istanze.applications.withdrawal import withdraw, withdrawals_of
from istanze.extensions import db
from istanze.protocol.service import last_number
from istanze_backend_support import code_ok, open_d3_draft, publish_procedure, submit_d3
from polis.testing.token_contract import bearer
from polis.testing.tokens import TestIssuer

API = "/api/istanze/v1"
FORM = {"sections": [{"id": "sedi", "fields": [{"name": "dpr445", "type": "declaration", "required": True}]}]}
LAST_SECOND = datetime(2027, 3, 28, 11, 59, 59, tzinfo=UTC)  # 13:59:59 in Rome (CEST), the spring DST Sunday
CLOSING = datetime(2027, 3, 28, 12, 0, 0, tzinfo=UTC)  # 14:00:00 in Rome
USER = uuid.uuid4()


def _define(opens: datetime, closes: datetime) -> None:
    with db.transaction() as session:
        publish_procedure(session, code="modello-d3", opens_local=opens, closes_local=closes, form=FORM)


@pytest.fixture
def submitted(client: FlaskClient) -> None:
    with db.transaction() as session:
        open_d3_draft(
            session,
            account_id=USER,
            opens_local=datetime(2027, 3, 1, 9, 0),
            closes_local=datetime(2027, 3, 28, 14, 0),
            form=FORM,
            answers={"dpr445": True},
            saved_at=datetime(2027, 3, 2, tzinfo=UTC),
        )
    _submit("click-1", at=datetime(2027, 3, 3, tzinfo=UTC))


def _submit(key: str, *, at: datetime) -> int | None:
    application = submit_d3(account_id=USER, key=key, arrived_at=at).application
    return application.protocol_number


def _withdraw(at: datetime) -> int:
    with db.transaction() as session:
        return withdraw(session, account_id=USER, code="modello-d3", arrived_at=at).protocol_number


def _state() -> tuple[str, int | None, list[int]]:
    with db.transaction() as session:
        a = service.application_of(session, account_id=USER, code="modello-d3")
        assert a is not None
        return (
            a.state,
            a.protocol_number,
            [w.protocol_number for w in withdrawals_of(session, application_id=a.id)],
        )


def test_d_ist_3_withdraw_at_13_59_59_then_resubmit_gets_a_new_number(submitted: None) -> None:
    assert _state() == ("inoltrata", 1, [])
    assert _withdraw(LAST_SECOND) == 1
    assert _state() == ("bozza", None, [1])  # a draft again; the withdrawn number stays on record
    assert _submit("click-2", at=LAST_SECOND) == 2  # never reused: the next number of the year
    assert _state() == ("inoltrata", 2, [1])
    with db.transaction() as session:
        assert last_number(session, year=2027) == 2


def test_d_ist_3_after_the_deadline_withdrawal_is_refused_and_nothing_changes(submitted: None) -> None:
    with pytest.raises(service.NotAllowed) as refused:
        _withdraw(CLOSING)  # 14:00:00 in Rome: read-only from now on
    assert refused.value.reason == "window_closed"
    assert _state() == ("inoltrata", 1, [])


def test_d_ist_3_a_draft_cannot_be_withdrawn(submitted: None) -> None:
    _withdraw(LAST_SECOND)
    with pytest.raises(service.NotAllowed) as refused:
        _withdraw(LAST_SECOND)
    assert refused.value.reason == "not_submitted"
    assert _state() == ("bozza", None, [1])


def test_d_ist_3_withdraw_through_the_api(client: FlaskClient, issuer: TestIssuer) -> None:
    me = bearer(issuer.token(audience="urn:polis:istanze"))
    today = datetime.now(ZoneInfo("Europe/Rome")).replace(
        tzinfo=None, hour=14, minute=0, second=0, microsecond=0
    )
    _define(today - timedelta(days=1), today + timedelta(days=10))
    client.application.extensions[CHECKER] = code_ok
    url = f"{API}/applications/modello-d3/submission"
    assert client.delete(url, headers=me).status_code == 403  # nothing submitted yet
    client.put(f"{API}/profile", json={"staff_category": "ata"}, headers=me)
    client.put(f"{API}/applications/modello-d3/sections/sedi", json={"dpr445": True}, headers=me)
    assert (
        client.post(url, json={"personal_code": "Codice-1", "key": "click-0001"}, headers=me).status_code
        == 200
    )

    withdrawn = client.delete(url, headers=me)
    assert withdrawn.status_code == 200
    assert withdrawn.get_json()["state"] == "bozza"
    assert withdrawn.get_json()["withdrawn"]["protocol_number"] == "0000001"
    assert client.get(f"{API}/applications/modello-d3", headers=me).get_json()["state"] == "bozza"
    again = client.post(url, json={"personal_code": "Codice-1", "key": "click-0002"}, headers=me)
    assert again.get_json()["protocol_number"] == "0000002"

    unknown = client.delete(f"{API}/applications/nessuna/submission", headers=me)
    assert unknown.status_code == 404


def test_d_ist_6_a_user_now_of_another_category_cannot_submit_the_draft(submitted: None) -> None:
    _withdraw(LAST_SECOND)
    with db.transaction() as session:
        service.declare_category(session, account_id=USER, staff_category="docenti")
    with pytest.raises(service.NotAllowed) as refused:
        _submit("click-2", at=LAST_SECOND)
    assert refused.value.reason == "not_your_category"
    assert _state() == ("bozza", None, [1])
