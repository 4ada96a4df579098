"""Registration use cases (D-ACC-3): one function per step, each one transaction, none creating an account
before the summary is confirmed; then the confirmation link (registration.confirmation), which activates
the account with its password.

Where the password is chosen: on the page of the confirmation link, not in a step. The seeds describe the
steps (codice fiscale, personal data, contacts, security question, summary) and then an email that completes
the registration, after which the username is shown: so the password is set by whoever holds the link, the
proof that the mailbox is theirs, and no password hash ever sits in a registration that may be abandoned.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from itsdangerous import URLSafeTimedSerializer
from polis.config import Secret
from polis.events.sealing import Sealer
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from iam import events
from iam.accounts import links, names
from iam.accounts import service as accounts
from iam.accounts.institutional import is_institutional
from iam.accounts.models import Account, AccountState
from iam.audit import service as audit
from iam.audit.service import Origin
from iam.captcha import service as captcha_service
from iam.captcha.adapters import CaptchaAdapter
from iam.passwords import hashing
from iam.registration import codice_fiscale as cf
from iam.registration import confirmation
from iam.registration.errors import (
    RegistrationInvalid,
    RegistrationNotFound,
    StepNotReached,
)
from iam.registration.models import Registration, RegistrationConfirmation

EVENT_EXISTING_ACCOUNT = "iam.registration_attempted_for_existing_account"
LINK_SALT = "iam.registration.confirmation"
STEPS = 5


@dataclass(frozen=True)
class RegistrationPolicy:
    """Lifetimes, keys and helpers of the registration flow, from the settings."""

    public_base_url: str
    ttl: timedelta  # of a registration in progress, renewed at each step
    link_ttl: timedelta  # of the confirmation link
    signing_key: Secret
    sealer: Sealer
    hasher: PasswordHasher
    captcha: CaptchaAdapter
    password_min_length: int
    password_min_score: int

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], *, captcha: CaptchaAdapter) -> RegistrationPolicy:
        return cls(
            public_base_url=settings["PUBLIC_BASE_URL"],
            ttl=timedelta(minutes=settings["REGISTRATION_TTL_MINUTES"]),
            link_ttl=timedelta(hours=settings["REGISTRATION_CONFIRMATION_TTL_HOURS"]),
            signing_key=settings["REGISTRATION_SIGNING_KEY"],
            sealer=Sealer(settings["NOTIFIER_SEALING_PUBLIC_KEY"], settings["NOTIFIER_SEALING_KEY_ID"]),
            hasher=hashing.hasher(
                settings.get("ARGON2_MEMORY_KIB", hashing.OWASP_MEMORY_KIB),
                settings.get("ARGON2_TIME_COST", hashing.OWASP_TIME_COST),
            ),
            captcha=captcha,
            password_min_length=settings["PASSWORD_MIN_LENGTH"],
            password_min_score=settings["PASSWORD_MIN_SCORE"],
        )

    def serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.signing_key.reveal(), salt=LINK_SALT)


@dataclass(frozen=True)
class Started:
    registration: Registration
    token: str  # the opaque token: given to the client once, only its hash is stored


# --- step 1 -----------------------------------------------------------------------------------------------


def start(
    *,
    db: Any,
    policy: RegistrationPolicy,
    codice_fiscale: str,
    captcha: str | None,
    language: str,
    origin: Origin,
    token: str | None = None,
) -> Started:
    """Step 1: a well-formed codice fiscale and a solved captcha start a registration (D-ACC-3).

    The answer never depends on whether the codice fiscale has an account: that is found out only at the
    summary, and answered the same way there. With the `token` of a registration in progress (the user
    went back to step 1, issue 13 item 3) the same codice fiscale continues it, without a new captcha, and
    a different one is set on it (captcha checked again): what was typed in the later steps is kept, and
    the steps are checked again against the new codice fiscale.
    """
    code = cf.normalise(codice_fiscale)
    with db.transaction() as session:
        existing = _find(session, token)
        if existing is not None and existing.codice_fiscale == code:
            _advance(existing, 1, policy)
            return Started(existing, token or "")
    problems: dict[str, list[str]] = {}
    cf_problem = cf.problem(code)
    if cf_problem:
        problems["codice_fiscale"] = [cf_problem]
    now = datetime.now(UTC)
    with db.transaction() as session:
        if not captcha_service.verify(session, adapter=policy.captcha, response=captcha):
            problems["captcha"] = ["captcha_failed"]
        if problems:
            raise RegistrationInvalid(problems, language=language)
        existing = _find(session, token)
        if existing is not None:
            existing.codice_fiscale = code
            existing.completed_step = 1  # steps 2-4 must agree with the new codice fiscale
            existing.birth_place_code = None
            _advance(existing, 1, policy)
            audit.record(
                session,
                action="registration.codice_fiscale_changed",
                origin=origin,
                actor="anonymous",
                details={"registration_id": str(existing.id), "omocode": cf.is_omocode(code)},
            )
            return Started(existing, token or "")
        token = links.new_token()
        # Abandoned registrations hold personal data: they go as soon as they expire.
        session.execute(delete(Registration).where(Registration.expires_at < now))
        registration = Registration(
            id=uuid.uuid4(),
            token_hash=links.hash_token(token),
            language=language,
            completed_step=1,
            created_at=now,
            updated_at=now,
            expires_at=now + policy.ttl,
            codice_fiscale=code,
        )
        session.add(registration)
        audit.record(
            session,
            action="registration.started",
            origin=origin,
            actor="anonymous",
            details={"registration_id": str(registration.id), "omocode": cf.is_omocode(code)},
        )
    return Started(registration, token)


def current(*, db: Any, token: str | None) -> Registration:
    """The registration in progress for `token` (RegistrationNotFound when unknown, expired or submitted)."""
    with db.transaction() as session:
        return _load(session, token)


def _find(session: Session, token: str | None) -> Registration | None:
    if not token or len(token) > 200:
        return None
    return session.scalar(
        select(Registration).where(
            Registration.token_hash == links.hash_token(token),
            Registration.expires_at > datetime.now(UTC),
            Registration.submitted_at.is_(None),
        )
    )


def _load(session: Session, token: str | None) -> Registration:
    registration = _find(session, token)
    if registration is None:
        raise RegistrationNotFound()
    return registration


# What a step's form may keep as typed when the user goes back without completing it (issue 13 item 3):
# the registration's own columns, bounded as they are; such a step counts as not done.
DRAFT_FIELDS = {
    2: ("last_name", "first_name", "birth_date", "sex", "birth_place_name"),
    3: ("personal_email",),
    4: ("security_question",),
}
DRAFT_LENGTHS = {
    "last_name": 100,
    "first_name": 100,
    "birth_place_name": 100,
    "personal_email": 254,
    "security_question": 200,
}


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def keep_draft(
    *, db: Any, policy: RegistrationPolicy, token: str | None, step: int, values: Mapping[str, Any]
) -> None:
    """Going back from a step whose form is not valid (yet): keep what was typed, to be shown again.

    The step then counts as not done (completed_step below it), so nothing unchecked reaches the summary:
    the step's own checks run when it is submitted again.
    """
    with db.transaction() as session:
        registration = _load(session, token)
        _require_step(registration, step)
        for name in DRAFT_FIELDS.get(step, ()):
            value = values.get(name)
            if name == "birth_date":
                value = _as_date(value)
            elif name == "sex":
                value = value if value in ("F", "M") else None
            elif value is not None:
                value = str(value).strip()[: DRAFT_LENGTHS[name]] or None
            setattr(registration, name, value)
        if step == 2:
            registration.birth_place_code = None
        registration.completed_step = min(registration.completed_step, step - 1)
        _advance(registration, step - 1, policy)


def _advance(registration: Registration, step: int, policy: RegistrationPolicy) -> None:
    now = datetime.now(UTC)
    registration.completed_step = max(registration.completed_step, step)
    registration.updated_at = now
    registration.expires_at = now + policy.ttl


def _require_step(registration: Registration, step: int) -> None:
    # A step may be done again (going back), never before the ones it depends on.
    if registration.completed_step < step - 1:
        raise StepNotReached()


# --- step 2 -----------------------------------------------------------------------------------------------


def submit_personal_data(
    *,
    db: Any,
    policy: RegistrationPolicy,
    token: str | None,
    last_name: str,
    first_name: str,
    birth_date: date,
    sex: str,
    birth_place: str,
    origin: Origin,
) -> Registration:
    """Step 2: surname, name, birth date, sex and birth place, each checked against the codice fiscale."""
    with db.transaction() as session:
        registration = _load(session, token)
        _require_step(registration, 2)
        last_name, first_name, birth_place = (
            names.normalise(last_name),
            names.normalise(first_name),
            birth_place.strip(),
        )
        problems: dict[str, list[str]] = {}
        if birth_date > date.today():
            problems["birth_date"] = ["birth_date_future"]
        else:
            found = cf.disagreements(
                registration.codice_fiscale,
                last_name=last_name,
                first_name=first_name,
                birth_date=birth_date,
                sex=sex,
                birth_place_name=birth_place,
            )
            problems.update({name: [code] for name, code in found.items()})
        if problems:
            raise RegistrationInvalid(problems, language=registration.language)
        place = cf.birth_place(registration.codice_fiscale)
        registration.last_name = last_name
        registration.first_name = first_name
        registration.birth_date = birth_date
        registration.sex = sex
        registration.birth_place_code = place.code
        registration.birth_place_name = place.name
        _advance(registration, 2, policy)
        audit.record(
            session,
            action="registration.personal_data_submitted",
            origin=origin,
            actor="anonymous",
            details={"registration_id": str(registration.id)},
        )
        return registration


# --- step 3 -----------------------------------------------------------------------------------------------


def submit_contacts(
    *, db: Any, policy: RegistrationPolicy, token: str | None, personal_email: str, origin: Origin
) -> Registration:
    """Step 3: the personal email @istruzione.it is refused: MI accounts are imported (D-ACC-2)."""
    email = personal_email.strip()
    with db.transaction() as session:
        registration = _load(session, token)
        _require_step(registration, 3)
        if is_institutional(email):
            raise RegistrationInvalid(
                {"personal_email": ["institutional_email_refused"]}, language=registration.language
            )
        registration.personal_email = email
        _advance(registration, 3, policy)
        audit.record(
            session,
            action="registration.contacts_submitted",
            origin=origin,
            actor="anonymous",
            details={"registration_id": str(registration.id)},
        )
        return registration


# --- step 4 -----------------------------------------------------------------------------------------------


def submit_security_question(
    *, db: Any, policy: RegistrationPolicy, token: str | None, question: str, answer: str, origin: Origin
) -> Registration:
    """Step 4: the security question and its answer, kept only as an argon2 hash (case-sensitive, D-ENA-5)."""
    # Hashed before the transaction: argon2 takes a while and needs no database.
    answer_hash = hashing.hash_secret(answer, ph=policy.hasher)
    with db.transaction() as session:
        registration = _load(session, token)
        _require_step(registration, 4)
        registration.security_question = question.strip()
        registration.security_answer_hash = answer_hash
        _advance(registration, 4, policy)
        audit.record(
            session,
            action="registration.security_question_submitted",
            origin=origin,
            actor="anonymous",
            details={"registration_id": str(registration.id)},
        )
        return registration


# --- step 5 -----------------------------------------------------------------------------------------------


def submit(
    *, db: Any, policy: RegistrationPolicy, token: str | None, consent: bool, origin: Origin
) -> Registration:
    """Step 5: the summary is confirmed with consent; the account is created and the link sent (D-ACC-3).

    A codice fiscale with a live account gets the same answer; no second account is created and the existing
    account's owner is told (iam.registration_attempted_for_existing_account). Both paths do the same work
    (issue 11 item 3: the existing path answered ~3 ms sooner): each creates an account, signs and seals a
    link and records both events, what does not apply in a savepoint rolled back, as the recoveries do.
    """
    with db.transaction() as session:
        registration = _load(session, token)
        _require_step(registration, 5)
        if not consent:
            raise RegistrationInvalid({"consent": ["consent_required"]}, language=registration.language)
        now = datetime.now(UTC)
        registration.submitted_at = now
        registration.updated_at = now
        existing = _live_account(session, registration.codice_fiscale, now)
        account = None
        if existing is None:
            try:
                account = _create_account(session, registration)
            except IntegrityError:
                # A concurrent registration of the same codice fiscale won the unique index.
                existing = _live_account(session, registration.codice_fiscale, now)
                if existing is None:
                    raise
        if account is not None:
            confirmation.send_link(session, policy, account, now)
            _rehearse(session, lambda: _existing_account_event(session, uuid.uuid4(), now))
            audit.record(
                session,
                action="registration.submitted",
                origin=origin,
                account_id=account.id,
                actor="anonymous",
                details={"registration_id": str(registration.id)},
            )
        else:
            assert existing is not None
            _rehearse(session, lambda: _throwaway_link(session, policy, registration, now))
            _existing_account_event(session, existing.id, now)
            audit.record(
                session,
                action="registration.existing_account_attempt",
                origin=origin,
                account_id=existing.id,
                actor="anonymous",
                details={"registration_id": str(registration.id)},
            )
        return registration


def _existing_account_event(session: Session, account_id: uuid.UUID, now: datetime) -> None:
    events.publish(
        session, EVENT_EXISTING_ACCOUNT, {"account_id": str(account_id), "attempted_at": now.isoformat()}
    )


def _throwaway_link(
    session: Session, policy: RegistrationPolicy, registration: Registration, now: datetime
) -> None:
    """An account and its signed, sealed link for a codice fiscale nobody has: the caller rolls it back."""
    throwaway = _create_account(session, registration, codice_fiscale="ZZ" + secrets.token_hex(7).upper())
    session.flush()
    confirmation.send_link(session, policy, throwaway, now)


def _rehearse(session: Session, work: Callable[[], None]) -> None:
    """Run `work` in a savepoint rolled back: the same statements, nothing kept (uniform timing)."""
    savepoint = session.begin_nested()
    work()
    session.flush()
    savepoint.rollback()


def _live_account(session: Session, codice_fiscale: str, now: datetime) -> Account | None:
    """The live account of this codice fiscale; an abandoned unconfirmed one is removed and does not count.

    An account still awaiting confirmation whose every link has expired was never used by anyone: a new
    registration replaces it, or a typo in the email would block the codice fiscale for ever.
    """
    account = session.scalar(
        select(Account).where(
            Account.codice_fiscale == codice_fiscale, Account.state != AccountState.REVOKED.value
        )
    )
    if account is None or account.state != AccountState.AWAITING_CONFIRMATION.value:
        return account
    live_link = session.scalar(
        select(RegistrationConfirmation.id).where(
            *links.live(RegistrationConfirmation, now, account_id=account.id)
        )
    )
    if live_link is not None:
        return account
    session.execute(delete(RegistrationConfirmation).where(RegistrationConfirmation.account_id == account.id))
    session.delete(account)
    session.flush()
    return None


def _create_account(
    session: Session, registration: Registration, *, codice_fiscale: str | None = None
) -> Account:
    assert registration.last_name and registration.first_name
    return accounts.create_account(
        session,
        person=accounts.PersonalData(
            codice_fiscale=codice_fiscale or registration.codice_fiscale,
            first_name=registration.first_name,
            last_name=registration.last_name,
            birth_date=registration.birth_date,
            sex=registration.sex,
            birth_place_code=registration.birth_place_code,
            birth_place_name=registration.birth_place_name,
        ),
        language=registration.language,
        personal_email=registration.personal_email,
        security_question=registration.security_question,
        security_answer_hash=registration.security_answer_hash,
    )
