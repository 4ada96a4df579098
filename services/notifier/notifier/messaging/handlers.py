"""Event handlers (thin): account facts update the read model; message events become queued deliveries.

A handler that raises has its event retried by the consumer (RETRY delays) and then parked with the reason:
an unknown account (its fact may arrive later), an address missing for the policy, a broken attachment. An
account IAM says it does not hold is parked at once (notifier.accounts.iam).

`handle_batch` is the consumer's fast path: the same effects as the per-event HANDLERS called in order,
with the batch's deliveries inserted in one statement and each account read once. When it raises, the
consumer runs the batch again through HANDLERS, one savepoint per event, and sets the failing one aside.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from polis.events import ATTACHMENT_MAX_BYTES, Event, Unprocessable
from sqlalchemy.orm import Session

from notifier.accounts import iam
from notifier.accounts import service as accounts
from notifier.accounts.models import Account
from notifier.delivery import service
from notifier.messaging.catalogue import (
    ALL_ADDRESSES,
    EVENT_EMAIL,
    MESSAGES,
    PERSONAL,
    Message,
)

log = logging.getLogger("notifier.handlers")

Handler = Callable[[Session, Event], None]
# Where the planned deliveries rows go, and how an account is found (cached over a batch).
Rows = list[dict[str, Any]]
Lookup = Callable[[str], Account]


class UndeliverableMessage(ValueError):
    """The message cannot be addressed or carries a broken attachment: parked after the bounded retries."""


def _recipients(message: Message, account: Account, data: dict[str, Any]) -> list[str]:
    if message.recipients == ALL_ADDRESSES:
        found = account.all_addresses()
    elif message.recipients == PERSONAL:
        found = [account.personal_email] if account.personal_email else []
    elif message.recipients == EVENT_EMAIL:
        found = [data["email"]]
    else:
        reference = account.reference_address()
        found = [reference] if reference else []
    if not found:
        raise UndeliverableMessage(f"account {account.account_id} has no address for {message.recipients}")
    return found


def _check_attachments(message: Message, data: dict[str, Any]) -> None:
    for name in message.attachments:
        try:
            size = len(base64.b64decode(data[name]["content_base64"], validate=True))
        except (binascii.Error, ValueError):
            raise UndeliverableMessage(f"attachment {name} is not valid base64") from None
        if size > ATTACHMENT_MAX_BYTES:
            raise UndeliverableMessage(f"attachment {name} is {size} bytes, over {ATTACHMENT_MAX_BYTES}")


def plan_message(event: Event, message: Message, rows: Rows, lookup: Lookup) -> None:
    """The email an event means, to the recipients its policy names, in the account's language.

    The row is complete when planned (recipients, language, names as they are now): inserting it later
    in the same transaction, after the batch's other events, changes nothing.
    """
    account = lookup(event.data["account_id"])
    if account.revoked:
        # Nothing goes to a revoked account; the row says so, for operators.
        rows.append(
            service.delivery_row(
                event=event,
                kind=message.kind,
                recipients=account.all_addresses() or ["-"],
                language=account.language,
                payload={},
                account_id=account.account_id,
                failed="not sent: the account is revoked",
            )
        )
        return
    _check_attachments(message, event.data)
    rows.append(
        service.delivery_row(
            event=event,
            kind=message.kind,
            recipients=_recipients(message, account, event.data),
            language=account.language,
            payload={
                **event.data,
                "account": {
                    "first_name": account.first_name,
                    "last_name": account.last_name,
                    "username": account.username,
                },
            },
            account_id=account.account_id,
        )
    )


def queue_message(session: Session, event: Event, message: Message) -> None:
    """plan_message and the insert, for one event."""
    rows: Rows = []
    plan_message(event, message, rows, lambda account_id: accounts.get(session, account_id))
    service.insert_rows(session=session, rows=rows)


Fact = Callable[[Session, dict[str, Any]], None]


def _known_or_never(session: Session, account_id: str) -> Account:
    """The account; for one the read model does not know, Unprocessable (parked at once) when IAM says it
    can never appear, else UnknownAccount (retried: its fact may still come)."""
    try:
        return accounts.get(session, account_id)
    except accounts.UnknownAccount:
        if iam.can_never_appear(account_id):
            raise Unprocessable(f"account {account_id} does not exist in IAM") from None
        raise


@dataclass(frozen=True)
class Plan:
    """What one event type does to the notifier, in this order: a fact recorded in the accounts read model,
    the email the event means, a fact recorded after the email."""

    fact: Fact | None = None
    message: Message | None = None
    fact_after: Fact | None = None

    def __call__(self, session: Session, event: Event, rows: Rows, lookup: Lookup) -> None:
        """Plan the event into rows (the deliveries to insert), reading accounts through lookup."""
        if self.fact is not None:
            self.fact(session, event.data)
        if self.message is not None:
            plan_message(event, self.message, rows, lookup)
        if self.fact_after is not None:
            self.fact_after(session, event.data)

    def handle(self, session: Session, event: Event) -> None:
        """The per-event handler: the plan, its rows inserted at once."""
        rows: Rows = []
        self(session, event, rows, lambda account_id: _known_or_never(session, account_id))
        service.insert_rows(session=session, rows=rows)


# Every event the notifier consumes. The catalogue's events mean their email only; the account facts below
# update the read model, some of them before or after their own email.
PLANNERS: dict[str, Plan] = {
    **{event_type: Plan(message=message) for event_type, message in MESSAGES.items()},
    "iam.account_registered": Plan(fact=accounts.registered),
    # The username is known before the email that tells it is built.
    "iam.account_activated": Plan(fact=accounts.activated, message=MESSAGES["iam.account_activated"]),
    "iam.account_profile_changed": Plan(fact=accounts.profile_changed),
    "iam.personal_email_changed": Plan(fact=accounts.personal_email_changed),
    "iam.institutional_email_set": Plan(fact=accounts.institutional_email_set),
    # The notice still reaches the user: the email first, then the account is marked revoked.
    "iam.account_revoked": Plan(message=MESSAGES["iam.account_revoked"], fact_after=accounts.revoked),
}

HANDLERS: dict[str, Handler] = {event_type: plan.handle for event_type, plan in PLANNERS.items()}


def handle_batch(session: Session, events: Sequence[Event]) -> None:
    """The consumer's batch handler: every event planned in order, then one INSERT for all the deliveries.

    Each account is read once per batch: the objects are held here, so SQLAlchemy's identity map (which
    keeps unmodified objects only while someone refers to them) returns the same one, facts included.
    """
    rows: Rows = []
    held: dict[str, Account] = {}

    def lookup(account_id: str) -> Account:
        account = held.get(account_id)
        if account is None:
            account = held[account_id] = accounts.get(session, account_id)
        return account

    for event in events:
        PLANNERS[event.type](session, event, rows, lookup)
    service.insert_rows(session=session, rows=rows)
