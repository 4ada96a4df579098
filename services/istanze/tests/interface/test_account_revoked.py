"""D-IST-6: when IAM revokes an account (iam.account_revoked), its drafts are deleted and its submitted
applications are kept (the administration's record); other accounts are untouched."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask.testing import FlaskClient
from istanze.applications.models import Application
from istanze.extensions import db
from istanze.messaging.handlers import HANDLERS
from polis.events import Event
from polis.events.contracts import validate as validate_event
from sqlalchemy import select

NOW = datetime(2027, 3, 2, tzinfo=UTC)


def _application(account: uuid.UUID, code: str, state: str) -> Application:
    return Application(
        account_id=account, procedure_code=code, state=state, answers={}, created_at=NOW, updated_at=NOW
    )


def test_d_ist_6_a_revoked_accounts_drafts_go_and_its_submissions_stay(client: FlaskClient) -> None:
    revoked, other = uuid.uuid4(), uuid.uuid4()
    with db.transaction() as session:
        session.add_all(
            [
                _application(revoked, "modello-d3", "bozza"),
                _application(revoked, "mobilita-docenti", "inoltrata"),
                _application(other, "modello-d3", "bozza"),
            ]
        )
    event = Event.new(
        "iam.account_revoked",
        {
            "account_id": str(revoked),
            "reason": "inactivity",
            "round_id": str(uuid.uuid4()),
            "revoked_at": NOW.isoformat().replace("+00:00", "Z"),
        },
        producer="iam",
    )
    validate_event(event)
    with db.transaction() as session:
        HANDLERS["iam.account_revoked"](session, event)
    with db.transaction() as session:
        left = {(a.account_id, a.procedure_code, a.state) for a in session.scalars(select(Application))}
    assert left == {(revoked, "mobilita-docenti", "inoltrata"), (other, "modello-d3", "bozza")}
