"""Enablement request use cases of the user (D-ENA-1, D-ENA-2, D-ENA-7); each owns its transaction.

A request stores the personal data the user confirmed (from the copy of IAM's facts), a number, and a
temporary personal code (argon2id only; the plain code leaves once, sealed for the notifier, with the
adhesion form attached and a signed single-use receipt link). An operator of one of their own offices
identifies the person with a valid document and confirms (the code then works, and must be changed first,
D-ENA-4) or rejects; both are audited (requests.identification). Reminders, expiry and the end after a
revocation are requests.expiry.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from polis.db import Database
from polis.errors import ApiError, Conflict, Forbidden
from polis.events import Event
from polis.events import outbox as events_outbox
from sqlalchemy import select
from sqlalchemy.orm import Session

from enablement.accounts import service as accounts
from enablement.audit import service as audit
from enablement.audit.service import Origin
from enablement.models import outbox
from enablement.offices import service as offices
from enablement.personal_codes import hashing
from enablement.personal_codes import policy as code_policy
from enablement.personal_codes.models import ACTIVE, AWAITING_IDENTIFICATION, MUST_CHANGE, PersonalCode
from enablement.personal_codes.service import CodePolicy
from enablement.requests import form
from enablement.requests.models import (
    CONFIRMED,
    EXPIRED,
    PENDING,
    REJECTED,
    EnablementRequest,
)
from enablement.requests.models import (
    ENDED as REQUEST_ENDED,
)

PRODUCER = "enablement"
RECEIPT_SALT = "enablement.receipt"


@dataclass(frozen=True)
class RequestPolicy:
    codes: CodePolicy
    ttl: timedelta
    reminder_before: timedelta
    public_base_url: str
    signing_key: str

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> RequestPolicy:
        return cls(
            codes=CodePolicy.from_settings(settings),
            ttl=timedelta(days=settings["REQUEST_TTL_DAYS"]),
            reminder_before=timedelta(days=settings["REMINDER_DAYS_BEFORE"]),
            public_base_url=settings["PUBLIC_BASE_URL"],
            signing_key=settings["SIGNING_KEY"].reveal(),
        )

    def serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.signing_key, salt=RECEIPT_SALT)


class ProfileNotReady(ApiError):
    status = 409
    code = "profile_not_ready"
    message = "Your account's data have not reached this service yet: try again in a moment."


class AlreadyEnabled(Conflict):
    code = "already_enabled"
    message = "This account is already enabled or has a request waiting for identification."


class InvalidLink(ApiError):
    status = 400
    code = "invalid_link"
    message = "This link is not valid: it is altered, already used or expired."


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _new_number(session: Session) -> str:
    while True:
        raw = "".join(secrets.choice(code_policy.ALPHABET.upper().replace("O", "")) for _ in range(8))
        number = f"ENA-{raw[:4]}-{raw[4:]}"
        if (
            session.scalars(select(EnablementRequest.id).where(EnablementRequest.number == number)).first()
            is None
        ):
            return number


def current_request(session: Session, account_id: uuid.UUID) -> EnablementRequest | None:
    return session.scalars(
        select(EnablementRequest)
        .where(EnablementRequest.account_id == account_id)
        .order_by(EnablementRequest.created_at.desc())
    ).first()


def form_pdf(session: Session, request: EnablementRequest, username: str | None) -> bytes:
    return form.render(
        form.FormData(
            number=request.number,
            first_name=request.first_name,
            last_name=request.last_name,
            codice_fiscale=request.codice_fiscale,
            email=request.email,
            username=username,
            language=request.language,
            created_at=aware(request.created_at),
            expires_at=aware(request.expires_at),
            offices=[(o.code, o.name, o.address) for o in offices.all_offices(session)],
        )
    )


def _open_request(
    session: Session, *, policy: RequestPolicy, account_id: uuid.UUID, codice_fiscale: str, now: datetime
) -> EnablementRequest:
    """A new pending request with a fresh temporary code, its form and its message, in `session`."""
    account = accounts.get(session, account_id)
    if account is None:
        raise ProfileNotReady()
    email = account.reference_address()
    if account.revoked or email is None:
        raise Forbidden("This account cannot be enabled.")
    request = EnablementRequest(
        number=_new_number(session),
        account_id=account_id,
        codice_fiscale=codice_fiscale,
        first_name=account.first_name,
        last_name=account.last_name,
        email=email,
        language=account.language,
        state=PENDING,
        created_at=now,
        expires_at=now + policy.ttl,
    )
    session.add(request)
    session.flush()
    code = code_policy.generate_temporary()
    code_hash = hashing.make(policy.codes.hasher, code)
    row = session.get(PersonalCode, account_id, with_for_update=True)
    if row is None:
        row = PersonalCode(account_id=account_id, failures=0, recovery_failures=0)
        session.add(row)
    row.code_hash, row.temporary_hash, row.state, row.changed_at = (
        code_hash,
        code_hash,
        AWAITING_IDENTIFICATION,
        now,
    )
    row.failures, row.locked_until, row.last_failure_at = 0, None, None
    token = policy.serializer().dumps({"r": str(request.id)})
    pdf = form_pdf(session, request, account.username)
    events_outbox.record(
        session,
        Event.new(
            "enablement.requested",
            {
                "account_id": str(account_id),
                "enablement_id": str(request.id),
                "temporary_personal_code": policy.codes.sealer.seal(code),
                "receipt_confirmation_url": policy.codes.sealer.seal(
                    f"{policy.public_base_url}/abilitazione/ricevuta?token={token}"
                ),
                "expires_at": request.expires_at.isoformat(),
                "adhesion_form": {
                    "filename": f"modulo-adesione-{request.number}.pdf",
                    "content_type": "application/pdf",
                    "content_base64": base64.b64encode(pdf).decode("ascii"),
                },
            },
            producer=PRODUCER,
        ),
        outbox,
    )
    return request


def start(
    *, db: Database, policy: RequestPolicy, account_id: uuid.UUID, codice_fiscale: str, origin: Origin
) -> EnablementRequest:
    """D-ENA-2: the user confirmed the data; the request, its number, the code and the email."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        existing = current_request(session, account_id)
        if existing is not None and existing.state in (PENDING, CONFIRMED):
            raise AlreadyEnabled()
        request = _open_request(
            session, policy=policy, account_id=account_id, codice_fiscale=codice_fiscale.upper(), now=now
        )
        audit.record(
            session,
            action="request.created",
            actor="user",
            account_id=account_id,
            origin=origin,
            details={"number": request.number},
        )
        session.flush()
        session.expunge(request)
        return request


def confirm_receipt(*, db: Database, policy: RequestPolicy, token: str) -> EnablementRequest:
    """The signed single-use link of the email (D-ENA-2): forged, reused or expired changes nothing."""
    try:
        payload = policy.serializer().loads(token, max_age=int(policy.ttl.total_seconds()))
        request_id = uuid.UUID(str(payload["r"]))
    except (BadSignature, SignatureExpired, KeyError, TypeError, ValueError):
        raise InvalidLink() from None
    with db.transaction() as session:
        request = session.get(EnablementRequest, request_id, with_for_update=True)
        if request is None or request.receipt_confirmed_at is not None or request.state != PENDING:
            raise InvalidLink()
        request.receipt_confirmed_at = datetime.now(UTC)
        session.flush()
        session.expunge(request)
        return request


# --- regeneration and the caller's status -----------------------------------------------------------


def ended_event(account_id: uuid.UUID, request_id: uuid.UUID, reason: str, now: datetime) -> Event:
    return Event.new(
        "enablement.ended",
        {
            "account_id": str(account_id),
            "enablement_id": str(request_id),
            "reason": reason,
            "ended_at": now.isoformat(),
        },
        producer=PRODUCER,
    )


def regenerate(
    *, db: Database, policy: RequestPolicy, account_id: uuid.UUID, origin: Origin
) -> EnablementRequest:
    """D-ENA-7: the old code stops at once; a new request (new code, form) waits for an office."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        row = session.get(PersonalCode, account_id, with_for_update=True)
        previous = current_request(session, account_id)
        if row is None or row.state not in (ACTIVE, MUST_CHANGE) or previous is None:
            raise Conflict("There is no active personal code to regenerate.", code="not_enabled")
        previous.state, previous.closed_at = REQUEST_ENDED, now
        events_outbox.record(session, ended_event(account_id, previous.id, "regenerated", now), outbox)
        events_outbox.record(
            session,
            Event.new(
                "enablement.personal_code_regenerated",
                {"account_id": str(account_id), "regenerated_at": now.isoformat()},
                producer=PRODUCER,
            ),
            outbox,
        )
        request = _open_request(
            session, policy=policy, account_id=account_id, codice_fiscale=previous.codice_fiscale, now=now
        )
        audit.record(
            session,
            action="personal_code.regenerated",
            actor="user",
            account_id=account_id,
            origin=origin,
            details={"number": request.number},
        )
        session.flush()
        session.expunge(request)
        return request


def status(session: Session, account_id: uuid.UUID) -> dict[str, Any]:
    """The caller's own enablement: not_requested, pending, must_change, enabled, expired... (D-ENA-1)."""
    request = current_request(session, account_id)
    row = session.get(PersonalCode, account_id)
    if request is None:
        state = "not_requested"
    elif request.state == CONFIRMED and row is not None:
        state = "must_change" if row.state == MUST_CHANGE else ("enabled" if row.state == ACTIVE else "ended")
    else:
        state = {PENDING: "pending", REJECTED: "rejected", EXPIRED: "expired"}.get(request.state, "ended")
    body: dict[str, Any] = {"state": state}
    if request is not None:
        body["request"] = {
            "id": str(request.id),
            "number": request.number,
            "state": request.state,
            "created_at": aware(request.created_at).isoformat(),
            "expires_at": aware(request.expires_at).isoformat(),
            "receipt_confirmed": request.receipt_confirmed_at is not None,
        }
    return body
