"""Issue 11 item 5 end to end with real processes: an account locked at the ceiling of consecutive failed
logins (NIST SP 800-63B; 3 here, 100 in production) is unlocked by its owner with the single-use link that
reaches every address of the account (personal and institutional) through IAM's outbox, RabbitMQ, the
notifier and the SMTP sink; then the password logs in. A name of nobody gets the same page (D-ACC-4 and the
uniform answers of D-ACC-6); a reused or forged link says so and unlocks nothing; both steps are audited."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from email.message import EmailMessage
from typing import Any

import pytest
from iam.demo import DEMO_ACCOUNTS
from polis.testing.helpers import wait_until
from support.browser import CSRF, Browser
from support.stack import SystemStack

pytestmark = pytest.mark.slow

CEILING = 3
WRONG = "non è questa la password"
UNLOCK_LINK = re.compile(r"(\S*/iam/accedi/sblocca/[A-Za-z0-9_.\-]+)")
LOCKED_AT_CEILING = "collegamento per sbloccarlo"
INVALID_LINK = "Il link di sblocco non è valido, è già stato usato o è scaduto"
OPS = {"Authorization": "Bearer polis-dev-ops-token"}  # the dev/test default of IAM_OPS_TOKEN
EMAIL_TIMEOUT = 60.0


def demo(username: str) -> Any:
    return next(entry for entry in DEMO_ACCOUNTS if entry.username == username)


def log_in(browser: Browser, username: str, password: str) -> tuple[int, str]:
    """IAM's login page through the gateway (D-ACC-4), asking to come back to the Area Riservata."""
    status, _, page = browser.form(
        "/iam/accedi?next=/iam/area-riservata",
        "/iam/accedi",
        {"username": username, "password": password, "next": "/iam/area-riservata"},
    )
    return status, page


def alert(page: str) -> str:
    """The login page's error box, white space folded: what the requester is told."""
    found = re.search(r'id="login-error"[^>]*>(.*?)</div>', re.sub(r"\s+", " ", page))
    return found.group(1).strip() if found else ""


def unlock_emails(stack: SystemStack, address: str) -> list[EmailMessage]:
    return stack.smtp.emails_to(address, "sblocca")


def text(message: EmailMessage) -> str:
    return "\n".join(part.get_content() for part in message.walk() if part.get_content_type() == "text/plain")


def audit(stack: SystemStack, action: str, account_id: str | None = None) -> list[dict[str, Any]]:
    """IAM's audit entries of one action (of one account), through its ops API on the internal address."""
    query = urllib.parse.urlencode({"action": action, **({"account_id": account_id} if account_id else {})})
    request = urllib.request.Request(stack.api("iam", f"/api/iam/v1/ops/audit?{query}"), headers=OPS)  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local stack
        return list(json.loads(response.read())["entries"])


def post_with_csrf(browser: Browser, url: str) -> tuple[int, str]:
    """POST the unlock form with a CSRF token taken from the login page (the link's own page is refused)."""
    _, _, page = browser.go("/iam/accedi")
    token = CSRF.search(page).group(1)  # type: ignore[union-attr]
    status, _, body = browser.go(url, {"csrf_token": token})
    return status, body


def test_issue_11_item_5_the_owner_unlocks_the_ceiling_with_the_emailed_link_then_logs_in(
    stack_factory: Any,
) -> None:
    stack = stack_factory(
        env={"IAM_LOGIN_LOCK_THRESHOLD": str(CEILING), "IAM_LOGIN_MAX_CONSECUTIVE_FAILURES": str(CEILING)}
    )
    sara = demo("sara.conti")  # personal and institutional addresses
    attacker = Browser(stack.url())

    # Someone spends the failures: locked at the ceiling; a name of nobody reads the same words.
    known = [log_in(attacker, sara.username, WRONG) for _ in range(CEILING)]
    unknown = [log_in(attacker, "nessuno.qui", WRONG) for _ in range(CEILING)]
    assert [(status, alert(page)) for status, page in known] == [
        (status, alert(page)) for status, page in unknown
    ]
    assert known[-1][0] == 401 and LOCKED_AT_CEILING in alert(known[-1][1])
    assert log_in(attacker, sara.username, sara.password)[0] == 401  # no guessing beyond the ceiling

    # One email, to every address of the account, with the link.
    wait_until(
        lambda: unlock_emails(stack, sara.personal_email) and unlock_emails(stack, sara.institutional_email),
        timeout=EMAIL_TIMEOUT,
    )
    [message] = unlock_emails(stack, sara.personal_email)
    assert sara.institutional_email in str(message["To"])
    link = UNLOCK_LINK.search(text(message)).group(1)  # type: ignore[union-attr]
    assert link.startswith(stack.url("/iam/accedi/sblocca/"))
    token = link.rsplit("/", 1)[1]
    for name in stack.processes:
        assert token not in stack.log(name), f"the unlock token is in the log of {name}"

    # The owner opens it (a page with a button: a scanner's fetch changes nothing), confirms, logs in.
    owner = Browser(stack.url())
    status, _, page = owner.go(link)
    assert status == 200 and "Sblocca l'accesso" in page
    status, _, page = owner.form(link, link, {})
    assert status == 200 and "Accesso sbloccato" in page
    status, page = log_in(owner, sara.username, sara.password)
    assert status == 200 and owner.trail[-1] == "/iam/area-riservata", owner.trail

    [sent] = audit(stack, "login.unlock_link_sent")  # the account's only: the name of nobody sent nothing
    assert sent["account_id"] and sent["details"]["failures"] == CEILING
    account_id = sent["account_id"]
    [unlocked] = audit(stack, "login.unlocked", account_id)
    assert unlocked["details"]["via"] == "email_link"

    # Locked again at the ceiling: the used link and a forged one say so and unlock nothing.
    for _ in range(CEILING):
        log_in(attacker, sara.username, WRONG)
    forged = link[:-3] + ("xyz" if not link.endswith("xyz") else "abc")
    for url in (link, forged):
        status, _, page = owner.go(url)
        assert status == 400 and INVALID_LINK in re.sub(r"\s+", " ", page)
        status, page = post_with_csrf(owner, url)
        assert status == 400 and INVALID_LINK in re.sub(r"\s+", " ", page)
    assert log_in(owner, sara.username, sara.password)[0] == 401  # still locked
    assert len(audit(stack, "login.unlocked", account_id)) == 1
