"""Sample events for every message kind, as their producers emit them (secrets sealed, PDFs attached).

Used by the notifier's tests, the cross-service tests and the P4 benchmark: one place that knows what a
valid event of each kind looks like.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from polis.events import Event
from polis.events.sealing import DEV_KEY_ID, DEV_PUBLIC_KEY, Sealer

from notifier.messaging.catalogue import MESSAGES

# Clear values inside the sealed fields: a test looks for them in the email, and nowhere else.
TEMPORARY_PASSWORD = "Tmp-Pa55-w0rd-Xq9"  # noqa: S105 - a test value, sealed in the samples
SECRETS = {
    "confirmation_url": "http://localhost:8080/iam/registrazione/conferma/s3cr3t-registration-token",
    "verification_url": "http://localhost:8080/iam/area-riservata/email/verifica/s3cr3t-verification-token",
    "unlock_url": "http://localhost:8080/iam/accedi/sblocca/s3cr3t-unlock-token",
    "temporary_password": TEMPORARY_PASSWORD,
    "temporary_personal_code": "TPC-7731-s3cr3t",
    "receipt_confirmation_url": "http://localhost:8080/abilitazione/ricevuta/s3cr3t-receipt-token",
    "personal_code": "PC-5512-s3cr3t",
}
# A tiny valid PDF: what an attachment looks like on the wire.
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Count 0/Kids[]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def sealed(value: str) -> str:
    return Sealer(DEV_PUBLIC_KEY, DEV_KEY_ID).seal(value)


def attachment(filename: str, content: bytes = PDF) -> dict[str, str]:
    return {
        "filename": filename,
        "content_type": "application/pdf",
        "content_base64": base64.b64encode(content).decode(),
    }


def _at(hours: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def account_registered(
    account_id: str | None = None,
    *,
    kind: str = "ordinary",
    language: str = "it",
    personal_email: str | None = "mario.rossi@example.org",
    institutional_email: str | None = None,
    state: str = "active",
    username: str | None = "mario.rossi",
) -> Event:
    data = {
        "account_id": account_id or str(uuid.uuid4()),
        "kind": kind,
        "state": state,
        "username": username,
        "first_name": "Mario",
        "last_name": "Rossi",
        "language": language,
        "personal_email": personal_email,
        "institutional_email": institutional_email,
    }
    return Event.new("iam.account_registered", data, producer="iam")


def message_data(event_type: str, account_id: str) -> dict[str, Any]:
    """Valid data of one message event type for one account."""
    istanza = {
        "istanza_id": str(uuid.uuid4()),
        "procedure_code": "mobilita-2027",
        "procedure_title": "Mobilità del personale docente 2027/28",
        "protocol_number": "AOODGPER-2027-0001234",
    }
    data: dict[str, dict[str, Any]] = {
        "iam.registration_confirmation_requested": {
            "confirmation_url": sealed(SECRETS["confirmation_url"]),
            "expires_at": _at(24),
        },
        "iam.account_activated": {"username": "mario.rossi", "activated_at": _at()},
        "iam.registration_attempted_for_existing_account": {"attempted_at": _at()},
        "iam.username_reminder_requested": {"requested_at": _at()},
        "iam.temporary_password_issued": {
            "temporary_password": sealed(TEMPORARY_PASSWORD),
            "expires_at": _at(1),
            "issued_by": "self_service",
        },
        "iam.account_unlock_link_issued": {
            "unlock_url": sealed(SECRETS["unlock_url"]),
            "expires_at": _at(24),
            "failures": 100,
        },
        "iam.password_changed": {"changed_at": _at()},
        "iam.email_verification_requested": {
            "email": "nuovo.indirizzo@example.org",
            "verification_url": sealed(SECRETS["verification_url"]),
            "expires_at": _at(24),
        },
        "iam.personal_email_replaced": {"email": "vecchio.indirizzo@example.org", "changed_at": _at()},
        "iam.revocation_announced": {
            "round_id": str(uuid.uuid4()),
            "cutoff": "2015-03-01T00:00:00+01:00",
            "deadline": "2017-07-12T23:59:59+02:00",
        },
        "iam.account_revoked": {"reason": "inactivity", "round_id": str(uuid.uuid4()), "revoked_at": _at()},
        "enablement.requested": {
            "enablement_id": str(uuid.uuid4()),
            "temporary_personal_code": sealed(SECRETS["temporary_personal_code"]),
            "receipt_confirmation_url": sealed(SECRETS["receipt_confirmation_url"]),
            "expires_at": _at(24 * 30),
            "adhesion_form": attachment("modulo-adesione.pdf"),
        },
        "enablement.activated": {
            "enablement_id": str(uuid.uuid4()),
            "activated_at": _at(),
            "office_name": "I.C. Giovanni Pascoli, Bari",
        },
        "enablement.personal_code_recovered": {
            "personal_code": sealed(SECRETS["personal_code"]),
            "recovered_at": _at(),
        },
        "enablement.personal_code_changed": {"changed_at": _at()},
        "enablement.personal_code_regenerated": {"regenerated_at": _at()},
        "enablement.expiry_reminder": {
            "enablement_id": str(uuid.uuid4()),
            "request_number": "ENA-7KQ4-M2XD",
            "expires_at": _at(24 * 7),
        },
        "istanze.istanza_submitted": {
            **istanza,
            "submitted_at": _at(),
            "receipt": attachment("ricevuta-AOODGPER-2027-0001234.pdf"),
        },
        "istanze.istanza_withdrawn": {**istanza, "withdrawn_at": _at()},
    }
    return {"account_id": account_id, **data[event_type]}


def message_event(event_type: str, account_id: str) -> Event:
    return Event.new(event_type, message_data(event_type, account_id), producer=event_type.split(".")[0])


def every_message_event(account_id: str) -> list[Event]:
    return [message_event(event_type, account_id) for event_type in MESSAGES]
