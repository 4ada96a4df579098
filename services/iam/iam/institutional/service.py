"""Institutional (MI) accounts (D-ACC-2): the ops import and the security officer's password reset.

Import design (documented in the README):
- The CSV has a header `codice_fiscale,first_name,last_name,institutional_email` (UTF-8, comma-separated).
- The whole file is validated first; any bad row rejects the file with every error and its line number,
  and nothing is imported (all or nothing, one transaction).
- A row creates an MI account (username `nome.cognome` with a numeric suffix on collision) in state
  `active` **without a password**: nobody can sign in with it until a security officer issues a temporary
  password (then the login forces the change). No password is ever sent by the import itself.
- Importing the same file again changes nothing and emits nothing (idempotent); a changed name emits
  iam.account_profile_changed, a changed institutional email iam.institutional_email_set.
- A codice fiscale that already has a live *ordinary* account is a row error: ops decide what to do.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from codicefiscale import codicefiscale
from polis.db import Database
from polis.errors import ApiError, Forbidden, NotFound
from sqlalchemy import select
from sqlalchemy.orm import Session

from iam import events
from iam.accounts import service as accounts
from iam.accounts import temporary_passwords as temporary
from iam.accounts.institutional import is_institutional
from iam.accounts.models import LIVE_STATES, Account, AccountKind, AccountState, Role
from iam.audit import service as audit
from iam.audit.service import Origin
from iam.recovery.service import RecoveryPolicy

COLUMNS = ("codice_fiscale", "first_name", "last_name", "institutional_email")
MAX_ROWS = 50_000
RESETTABLE_STATES = (AccountState.ACTIVE.value, AccountState.MUST_CHANGE_PASSWORD.value)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ImportRejected(ApiError):
    status = 400
    code = "import_rejected"
    message = "The file was not imported: fix the rows listed and send it again."

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(fields={"rows": errors})
        self.errors = errors


@dataclass(frozen=True)
class MiRow:
    line: int
    codice_fiscale: str
    first_name: str
    last_name: str
    institutional_email: str


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)  # usernames
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


# --- parsing ---------------------------------------------------------------------------------------------


def _names_agree(cf: str, first: str, last: str) -> bool:
    return codicefiscale.encode_lastname(last) == cf[0:3] and codicefiscale.encode_firstname(first) == cf[3:6]


def _row_errors(line: int, raw: Mapping[str, str | None]) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []

    def error(column: str, problem: str) -> None:
        errors.append({"line": line, "field": column, "error": problem})

    cf = (raw.get("codice_fiscale") or "").strip().upper()
    first = (raw.get("first_name") or "").strip()
    last = (raw.get("last_name") or "").strip()
    email = (raw.get("institutional_email") or "").strip()
    if not codicefiscale.is_valid(cf):
        error("codice_fiscale", "invalid_codice_fiscale")
    for column, value in (("first_name", first), ("last_name", last)):
        if not value:
            error(column, "required")
        elif len(value) > 100:
            error(column, "too_long")
    if not errors and not _names_agree(cf, first, last):
        error("codice_fiscale", "names_disagree")
    if not _EMAIL.match(email) or len(email) > 254:
        error("institutional_email", "invalid_email")
    elif not is_institutional(email):
        error("institutional_email", "not_institutional")
    return errors


def parse_csv(text: str) -> list[MiRow]:
    """The rows of an MI import file, or ImportRejected listing every problem with its line number."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        return _parse_rows(reader)
    except csv.Error:
        # A file the csv module cannot read (a bare carriage return inside a field, a NUL): refused like any
        # other bad file, never a 500 (issue 17, found by fuzzing).
        line = max(reader.line_num, 1)
        raise ImportRejected([{"line": line, "field": "file", "error": "unreadable_csv"}]) from None


def _parse_rows(reader: csv.DictReader[str]) -> list[MiRow]:
    header = [name.strip() for name in (reader.fieldnames or [])]
    if sorted(header) != sorted(COLUMNS):
        raise ImportRejected([{"line": 1, "field": "header", "error": f"expected {','.join(COLUMNS)}"}])
    reader.fieldnames = header
    rows: list[MiRow] = []
    errors: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for raw in reader:
        line = reader.line_num
        if None in raw or any(value is None for value in raw.values()):
            errors.append({"line": line, "field": "row", "error": "wrong_column_count"})
            continue
        problems = _row_errors(line, raw)
        cf = (raw["codice_fiscale"] or "").strip().upper()
        if not problems and cf in seen:
            problems.append(
                {"line": line, "field": "codice_fiscale", "error": f"duplicate_of_line_{seen[cf]}"}
            )
        errors.extend(problems)
        if not problems:
            seen[cf] = line
            rows.append(
                MiRow(
                    line=line,
                    codice_fiscale=cf,
                    first_name=(raw["first_name"] or "").strip(),
                    last_name=(raw["last_name"] or "").strip(),
                    institutional_email=(raw["institutional_email"] or "").strip().lower(),
                )
            )
        if len(rows) + len(errors) > MAX_ROWS:
            errors.append({"line": line, "field": "file", "error": f"more_than_{MAX_ROWS}_rows"})
            break
    if errors:
        raise ImportRejected(errors)
    if not rows:
        raise ImportRejected([{"line": 1, "field": "file", "error": "no_rows"}])
    return rows


# --- import ----------------------------------------------------------------------------------------------


def import_mi_accounts(*, db: Database, rows: list[MiRow], actor: str, origin: Origin) -> ImportResult:
    """Create or update the MI accounts of the rows, all in one transaction (all or nothing)."""
    result = ImportResult()
    with db.transaction() as session:
        existing = {
            account.codice_fiscale: account
            for account in session.scalars(
                select(Account).where(
                    Account.codice_fiscale.in_([row.codice_fiscale for row in rows]),
                    Account.state.in_(LIVE_STATES),
                )
            )
        }
        conflicts = [
            {"line": row.line, "field": "codice_fiscale", "error": "ordinary_account_exists"}
            for row in rows
            if row.codice_fiscale in existing and existing[row.codice_fiscale].kind != AccountKind.MI.value
        ]
        if conflicts:
            raise ImportRejected(conflicts)
        for row in rows:
            account = existing.get(row.codice_fiscale)
            if account is None:
                _create(session, row, actor, origin, result)
            else:
                _update(session, account, row, actor, origin, result)
        audit.record(
            session,
            action="mi_import.completed",
            origin=origin,
            actor=actor,
            details={
                "created": len(result.created),
                "updated": len(result.updated),
                "unchanged": result.unchanged,
            },
        )
    return result


def _person(row: MiRow) -> accounts.PersonalData:
    """The person of a row, with what the codice fiscale tells (birth date, sex, birth place)."""
    try:
        decoded = codicefiscale.decode(row.codice_fiscale)
    except ValueError:
        return accounts.PersonalData(row.codice_fiscale, row.first_name, row.last_name)
    place = decoded.get("birthplace") or {}
    return accounts.PersonalData(
        codice_fiscale=row.codice_fiscale,
        first_name=row.first_name,
        last_name=row.last_name,
        birth_date=decoded["birthdate"].date() if decoded.get("birthdate") else None,
        sex=decoded.get("gender"),
        birth_place_code=place.get("code"),
        birth_place_name=place.get("name"),
    )


def _create(session: Session, row: MiRow, actor: str, origin: Origin, result: ImportResult) -> None:
    # The registration area's rules: `nome.cognome`, accents folded, a numeric suffix when taken (D-ACC-2);
    # created active *without a password* (see the module docstring), with its iam.account_registered fact.
    username = accounts.next_free_username(session, accounts.username_base(row.first_name, row.last_name))
    account = accounts.create_account(
        session,
        person=_person(row),
        kind=AccountKind.MI,
        state=AccountState.ACTIVE,
        username=username,
        institutional_email=row.institutional_email,
    )
    audit.record(
        session,
        action="mi_account.created",
        origin=origin,
        account_id=account.id,
        actor=actor,
        details={"line": row.line},
    )
    result.created.append(username)


def _update(
    session: Session, account: Account, row: MiRow, actor: str, origin: Origin, result: ImportResult
) -> None:
    changed: list[str] = []
    if (account.first_name, account.last_name) != (row.first_name, row.last_name):
        account.first_name, account.last_name = row.first_name, row.last_name
        changed.append("names")
        events.publish(
            session,
            "iam.account_profile_changed",
            {
                "account_id": str(account.id),
                "first_name": account.first_name,
                "last_name": account.last_name,
                "language": account.language,
            },
        )
    if account.institutional_email != row.institutional_email:
        account.institutional_email = row.institutional_email
        changed.append("institutional_email")
        events.publish(
            session,
            "iam.institutional_email_set",
            {"account_id": str(account.id), "institutional_email": row.institutional_email},
        )
    if not changed:
        result.unchanged += 1
        return
    audit.record(
        session,
        action="mi_account.updated",
        origin=origin,
        account_id=account.id,
        actor=actor,
        details={"line": row.line, "changed": changed},
    )
    result.updated.append(str(account.username))


# --- security officer ------------------------------------------------------------------------------------


def officer_actor(officer_id: uuid.UUID) -> str:
    return f"account:{officer_id}"


def _require_officer(session: Session, officer_id: uuid.UUID) -> Account:
    officer = session.get(Account, officer_id)
    if (
        officer is None
        or officer.state != AccountState.ACTIVE.value
        or Role.SECURITY_OFFICER.value not in (officer.roles or [])
    ):
        raise Forbidden("Only a security officer may do this.")
    return officer


def search_mi_accounts(*, db: Database, officer_id: uuid.UUID, query: str) -> list[Account]:
    """MI accounts whose username or codice fiscale is exactly `query` (a search, never a listing)."""
    needle = query.strip()
    with db.transaction() as session:
        _require_officer(session, officer_id)
        accounts = list(
            session.scalars(
                select(Account).where(
                    Account.kind == AccountKind.MI.value,
                    Account.state.in_(LIVE_STATES),
                    (Account.username == needle.lower()) | (Account.codice_fiscale == needle.upper()),
                )
            )
        )
        for account in accounts:
            session.expunge(account)
    return accounts


def resettable_mi_account(*, db: Database, officer_id: uuid.UUID, account_id: uuid.UUID) -> Account:
    """The MI account a reset would be for, shown to the officer before the reset is confirmed."""
    with db.transaction() as session:
        _require_officer(session, officer_id)
        account = _resettable(session, account_id)
        session.expunge(account)
    return account


def _resettable(session: Session, account_id: uuid.UUID) -> Account:
    account = session.get(Account, account_id)
    if account is None or account.kind != AccountKind.MI.value or account.state not in RESETTABLE_STATES:
        raise NotFound("No institutional account with this id can be reset.")
    return account


def reset_mi_password(
    *, db: Database, policy: RecoveryPolicy, officer_id: uuid.UUID, account_id: uuid.UUID, origin: Origin
) -> datetime:
    """Issue a temporary password for an MI account (D-ACC-2), audited with the officer as the actor.

    Earlier outstanding temporary passwords end; the account's current password keeps working until the
    new temporary one is used at login, which forces the change.
    """
    password = temporary.generate()
    with db.transaction() as session:
        _require_officer(session, officer_id)
        account = _resettable(session, account_id)
        # Earlier live ones end as the new one is stored.
        return temporary.issue(
            session,
            account_id=account.id,
            password=password,
            issued_by=temporary.SECURITY_OFFICER,
            ttl=policy.temporary_password_ttl,
            sealer=policy.sealer,
            action="mi_password.reset",
            origin=origin,
            actor=officer_actor(officer_id),
        )
