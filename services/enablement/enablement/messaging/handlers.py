"""Event handlers (thin): IAM's account facts keep the local copy; a revoked account ends its enablement."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from polis.events import Event
from sqlalchemy.orm import Session

from enablement.accounts import service as accounts
from enablement.requests import expiry

Handler = Callable[[Session, Event], None]


def _registered(session: Session, event: Event) -> None:
    accounts.registered(session, event.data)
    from enablement import demo

    if demo.demo_loaded(session):  # make run: the demo people's enablement, once IAM has described them
        account = accounts.get(session, event.data["account_id"])
        if account is not None:
            session.flush()
            demo.set_up_person(session, account)


def _revoked(session: Session, event: Event) -> None:
    accounts.revoked(session, event.data)
    expiry.end_for_account(session, uuid.UUID(event.data["account_id"]), reason="revoked")  # D-REV-3


HANDLERS: dict[str, Handler] = {
    "iam.account_registered": _registered,
    "iam.account_activated": lambda session, event: accounts.activated(session, event.data),
    "iam.account_profile_changed": lambda session, event: accounts.profile_changed(session, event.data),
    "iam.personal_email_changed": lambda session, event: accounts.personal_email_changed(session, event.data),
    "iam.account_revoked": _revoked,
}
