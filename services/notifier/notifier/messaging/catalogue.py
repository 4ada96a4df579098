"""Which event means which email, to whom, with which attachments.

Adding a message is: its contract in polis/events/contracts, its template files
(`templates/email/<kind>.<it|en>.{subject.txt,txt,html}`) and one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

# Recipient policies (D-ACC-8).
ALL_ADDRESSES = "all_addresses"  # recovery messages: every registered address
REFERENCE = "reference"  # the institutional address where it exists, else the personal one
PERSONAL = "personal"  # the personal address being registered (registration confirmation)
EVENT_EMAIL = "event_email"  # the address named in the event: the address being verified is the fact
POLICIES = (ALL_ADDRESSES, REFERENCE, PERSONAL, EVENT_EMAIL)


@dataclass(frozen=True)
class Message:
    kind: str  # the template name and the delivery log's kind
    recipients: str  # one of POLICIES
    attachments: tuple[str, ...] = ()  # names of attachment fields of the event data


MESSAGES: dict[str, Message] = {
    "iam.registration_confirmation_requested": Message("registration_confirmation", PERSONAL),
    "iam.account_activated": Message("username_after_registration", REFERENCE),
    "iam.registration_attempted_for_existing_account": Message("registration_attempted", ALL_ADDRESSES),
    "iam.username_reminder_requested": Message("username_reminder", ALL_ADDRESSES),
    "iam.temporary_password_issued": Message("temporary_password", ALL_ADDRESSES),
    # The lock at the ceiling of failed logins: the owner's way out goes where a recovery goes
    # (issue 11 item 5).
    "iam.account_unlock_link_issued": Message("account_unlock", ALL_ADDRESSES),
    "iam.password_changed": Message("password_changed", REFERENCE),
    "iam.email_verification_requested": Message("email_verification", EVENT_EMAIL),
    # The previous personal email, told that a new one took its place (issue 13 item 6).
    "iam.personal_email_replaced": Message("personal_email_replaced", EVENT_EMAIL),
    "iam.revocation_announced": Message("revocation_announced", REFERENCE),
    "iam.account_revoked": Message("account_revoked", REFERENCE),
    "enablement.requested": Message("enablement_requested", REFERENCE, ("adhesion_form",)),
    "enablement.activated": Message("enablement_activated", REFERENCE),
    "enablement.personal_code_recovered": Message("personal_code_recovered", REFERENCE),
    "enablement.personal_code_changed": Message("personal_code_changed", REFERENCE),
    "enablement.personal_code_regenerated": Message("personal_code_regenerated", REFERENCE),
    "enablement.expiry_reminder": Message("enablement_expiry_reminder", REFERENCE),
    "istanze.istanza_submitted": Message("istanza_submitted", REFERENCE, ("receipt",)),
    "istanze.istanza_withdrawn": Message("istanza_withdrawn", REFERENCE),
}

# The decoded size limit of one attachment is polis.events.ATTACHMENT_MAX_BYTES (2 MiB): the contracts cap
# content_base64 at the same size, so the producer's outbox refuses a bigger one.


def kinds() -> list[str]:
    """Every kind of email the notifier can render."""
    return [message.kind for message in MESSAGES.values()]
