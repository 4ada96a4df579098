"""Registration end to end with real processes (D-ACC-3, D-ACC-2): through the gateway, a real ALTCHA proof of
work, IAM's outbox, RabbitMQ, the notifier and the SMTP sink; the link from the email activates the account,
the username arrives by email, and registering the same codice fiscale again tells the existing owner."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
import uuid
from email.message import EmailMessage
from typing import Any

import pytest
from support import registration_flow
from support.registration_flow import call
from support.stack import SystemStack

pytestmark = pytest.mark.slow

API = "/api/iam/v1/registrations"
LINK = re.compile(r"(\S*/iam/registrazione/conferma/([A-Za-z0-9_.\-]+))")
PASSWORD = "orologio ciliegia pianoforte vento"
EMAIL_TIMEOUT = 60.0
GIUSEPPE = registration_flow.Person("Verdi", "Giuseppe", "1971-10-10", "M")  # one codice fiscale, twice


def register(stack: SystemStack, email: str) -> dict[str, Any]:
    status, submitted = registration_flow.register(stack, email, GIUSEPPE)
    assert status == 202, submitted
    return dict(submitted)


def body_text(message: EmailMessage) -> str:
    return "\n".join(part.get_content() for part in message.walk() if part.get_content_maintype() == "text")


def page(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - local test URL
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_d_acc_3_register_confirm_by_email_link_get_the_username_and_a_second_attempt_tells_the_owner(
    stack: SystemStack,
) -> None:
    email = f"giuseppe-{uuid.uuid4().hex[:8]}@example.org"

    first = register(stack, email)
    [confirmation] = stack.smtp.wait_for_email(email, 1, timeout=EMAIL_TIMEOUT)
    link, token = LINK.search(body_text(confirmation)).groups()  # type: ignore[union-attr]

    # The link's page: through the gateway when it forwards /iam/, else from IAM itself.
    status, html = page(link)
    if status == 404:
        status, html = page(stack.api("iam", f"/iam/registrazione/conferma/{token}"))
    assert status == 200
    assert "Giuseppe Verdi" in html

    status, activated = call(stack, "POST", f"{API}/activation", {"token": token, "password": PASSWORD})
    assert status == 200, activated
    assert activated == {"username": "giuseppe.verdi", "state": "active"}
    status, again = call(stack, "POST", f"{API}/activation", {"token": token, "password": PASSWORD})
    assert (status, again["error"]["code"]) == (400, "invalid_token")

    _confirmation, username_email = stack.smtp.wait_for_email(email, 2, timeout=EMAIL_TIMEOUT)
    assert "giuseppe.verdi" in body_text(username_email)
    assert PASSWORD not in body_text(username_email)

    intruder = f"intruder-{uuid.uuid4().hex[:8]}@example.org"
    second = register(stack, intruder)
    assert second == {"status": "submitted", "personal_email": intruder}
    assert first.keys() == second.keys()
    # The owner's address hears about the attempt; the intruder's address gets nothing.
    stack.smtp.wait_for_email(email, 3, timeout=EMAIL_TIMEOUT)
    assert stack.smtp.emails_to(intruder) == []
