"""Event handlers (thin): account facts update the read model; message events become queued deliveries.

A handler that raises has its event retried by the consumer (RETRY delays) and then parked with the reason:
an unknown account (its fact may arrive later), an address missing for the policy, a broken attachment.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from typing import Any

from polis.events import Event
from sqlalchemy.orm import Session

from notifier.accounts import service as accounts
from notifier.accounts.models import Account
from notifier.delivery import service
from notifier.messaging.catalogue import (
    ALL_ADDRESSES,
    ATTACHMENT_MAX_BYTES,
    EVENT_EMAIL,
    LEGACY_EMAIL_CONFIRMATION,
    MESSAGES,
    PERSONAL,
    Message,
)

log = logging.getLogger("notifier.handlers")

Handler = Callable[[Session, Event], None]


class UndeliverableMessage(ValueError):
    """The message cannot be addressed or carries a broken attachment: parked after the bounded retries."""


def handle_email_confirmation_requested(session: Session, event: Event) -> None:
    """D-ACC-3 (walking skeleton): the address and language are in the event; the link stays sealed."""
    service.enqueue(
        session=session,
        event=event,
        kind=LEGACY_EMAIL_CONFIRMATION,
        recipients=[event.data["email"]],
        language=event.data["language"],
        payload=event.data,
    )


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


def queue_message(session: Session, event: Event, message: Message) -> None:
    """The email an event means, to the recipients its policy names, in the account's language."""
    account = accounts.get(session, event.data["account_id"])
    if account.revoked:
        # Nothing goes to a revoked account; the row says so, for operators.
        service.enqueue(
            session=session,
            event=event,
            kind=message.kind,
            recipients=account.all_addresses() or ["-"],
            language=account.language,
            payload={},
            account_id=account.account_id,
            failed="not sent: the account is revoked",
        )
        return
    _check_attachments(message, event.data)
    service.enqueue(
        session=session,
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


def _message_handler(message: Message, fact: Callable[[Session, dict[str, Any]], None] | None) -> Handler:
    def handle(session: Session, event: Event) -> None:
        if event.type == "iam.account_revoked":
            # The notice still reaches the user: the message first, then the account is marked revoked.
            queue_message(session, event, message)
            if fact is not None:
                fact(session, event.data)
            return
        if fact is not None:
            fact(session, event.data)  # e.g. activation: the username is known before the email is built
        queue_message(session, event, message)

    handle.__name__ = f"handle_{message.kind}"
    return handle


def _fact_handler(fact: Callable[[Session, dict[str, Any]], None]) -> Handler:
    def handle(session: Session, event: Event) -> None:
        fact(session, event.data)

    handle.__name__ = f"handle_{fact.__name__}"
    return handle


FACTS: dict[str, Callable[[Session, dict[str, Any]], None]] = {
    "iam.account_registered": accounts.registered,
    "iam.account_activated": accounts.activated,
    "iam.account_profile_changed": accounts.profile_changed,
    "iam.personal_email_changed": accounts.personal_email_changed,
    "iam.institutional_email_set": accounts.institutional_email_set,
    "iam.account_revoked": accounts.revoked,
}

HANDLERS: dict[str, Handler] = {
    "iam.email_confirmation_requested": handle_email_confirmation_requested,
    **{event_type: _fact_handler(fact) for event_type, fact in FACTS.items() if event_type not in MESSAGES},
    **{
        event_type: _message_handler(message, FACTS.get(event_type))
        for event_type, message in MESSAGES.items()
    },
}
