"""Login end to end with real processes (D-ACC-4, D-ENA-1): a browser presses "Accedi" on the portal, is sent
through the gateway to IAM's authorization endpoint and login page, types username and password, comes back
to the portal's callback with a code that the gateway exchanges with IAM, lands on the personal home, and
logs out of the portal and of IAM."""

from __future__ import annotations

import html
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from bench.bench_common import active_account
from support.browser import CSRF, Browser
from support.stack import SystemStack

pytestmark = pytest.mark.slow

PASSWORD = "lampione violetto sulla collina"
# D-ENA-1: after "Accedi" the portal lands on enablement's decision; a new account is not enabled yet, so it
# stays there (the enablement request); enabled users go on to their home (test_browser_enablement.py).
LANDING = "/abilitazione/"


def create_account(stack: SystemStack, username: str) -> None:
    """An active account straight in IAM's database (registration has its own end-to-end test)."""
    from iam.passwords.hashing import hash_secret
    from polis.db import Database

    database = Database(stack.database_url("iam"))
    with database.transaction() as session:
        session.add(
            active_account(
                username, password_hash=hash_secret(PASSWORD), first_name="Lucia", last_name="Bianchi"
            )
        )
    database.dispose()


def log_in(browser: Browser, username: str, password: str) -> tuple[int, str, str]:
    status, url, page = browser.go("/accedi")
    assert status == 200, (browser.trail, page[:500])
    # The authorization endpoint answers with IAM's login form itself (issue 18).
    assert urllib.parse.urlsplit(url).path == "/oidc/authorize" and 'action="/iam/accedi"' in page
    next_path = html.unescape(re.search(r'name="next" value="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    token = CSRF.search(page).group(1)  # type: ignore[union-attr]
    return browser.go(
        "/iam/accedi", {"username": username, "password": password, "next": next_path, "csrf_token": token}
    )


def test_a_user_logs_in_through_the_portal_and_logs_out(stack: SystemStack) -> None:
    """D-ENA-1 and D-ACC-4: "Accedi" -> IAM's login page -> the personal home; then out of both."""
    create_account(stack, "lucia.bianchi")
    browser = Browser(stack.url())

    status, url, page = log_in(browser, "lucia.bianchi", PASSWORD)

    assert status == 200, (browser.trail, page[:1000])
    assert urllib.parse.urlsplit(url).path == LANDING
    assert "Lucia Bianchi" in page
    # The login POST answers with the code for the portal (issue 18): no empty hop before or after it.
    assert browser.trail[:4] == ["/accedi", "/oidc/authorize", "/iam/accedi", "/accedi/callback"]
    # "Accedi" again: already signed in, straight on (D-ENA-1); the personal home needs the session.
    assert urllib.parse.urlsplit(browser.go("/accedi")[1]).path == LANDING
    assert "Lucia Bianchi" in browser.go("/area-personale")[2]

    status, url, page = browser.log_out()

    assert status == 200
    assert urllib.parse.urlsplit(url).path == "/"
    assert "/oidc/logout" in browser.trail
    # Out of the portal and of IAM: the next "Accedi" asks for the password again.
    status, url, page = browser.go("/area-personale")
    assert urllib.parse.urlsplit(url).path == "/oidc/authorize" and 'name="password"' in page


def test_a_wrong_password_stays_on_the_login_page(stack: SystemStack) -> None:
    create_account(stack, "lucia.verdi")
    browser = Browser(stack.url())

    status, url, page = log_in(browser, "lucia.verdi", "non è la password giusta")

    assert status == 401
    assert "Nome utente o password non corretti." in page
    status, url, page = browser.go("/area-personale")
    assert (
        status == 200 and urllib.parse.urlsplit(url).path == "/oidc/authorize" and 'name="password"' in page
    )


def issue_temporary_password(stack: SystemStack, username: str, password: str) -> None:
    """What "Password dimenticata?" stores (the recovery has its own end-to-end test with the email)."""
    from datetime import timedelta

    from iam.accounts.models import Account, TemporaryPassword
    from iam.accounts.temporary_passwords import digest
    from polis.db import Database
    from sqlalchemy import select

    now = datetime.now(UTC)
    database = Database(stack.database_url("iam"))
    with database.transaction() as session:
        account_id = session.execute(select(Account.id).where(Account.username == username)).scalar_one()
        session.add(
            TemporaryPassword(
                id=uuid.uuid4(),
                account_id=account_id,
                password_hash=digest(password),  # stored as its digest (issue 11 item 2)
                issued_by="self_service",
                created_at=now,
                expires_at=now + timedelta(minutes=30),
            )
        )
    database.dispose()


def account_id_of(stack: SystemStack, username: str) -> str:
    from iam.accounts.models import Account
    from polis.db import Database
    from sqlalchemy import select

    database = Database(stack.database_url("iam"))
    with database.transaction() as session:
        found = session.execute(select(Account.id).where(Account.username == username)).scalar_one()
    database.dispose()
    return str(found)


def test_a_temporary_password_forces_the_change_before_the_personal_home(stack: SystemStack) -> None:
    """D-ACC-6 and D-ACC-4: the temporary password logs in once, the change comes first, then the home."""
    create_account(stack, "lucia.neri")
    issue_temporary_password(stack, "lucia.neri", "Tmp9xQ4pZr7Kw2Ld")
    browser = Browser(stack.url())

    status, url, page = log_in(browser, "lucia.neri", "Tmp9xQ4pZr7Kw2Ld")

    assert status == 200 and urllib.parse.urlsplit(url).path == "/iam/cambio-password", browser.trail
    next_path = html.unescape(re.search(r'name="next" value="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    form = {"next": next_path, "csrf_token": CSRF.search(page).group(1)}  # type: ignore[union-attr]
    new_password = "tramonto arancione sopra il porto antico"
    status, url, page = browser.go(
        "/iam/cambio-password", {**form, "new_password": new_password, "confirm_password": new_password}
    )

    assert status == 200, page[:500]
    assert urllib.parse.urlsplit(url).path == LANDING
    # The temporary password is used up; the new one works from a fresh browser.
    assert log_in(Browser(stack.url()), "lucia.neri", "Tmp9xQ4pZr7Kw2Ld")[0] == 401
    status, url, _ = log_in(Browser(stack.url()), "lucia.neri", new_password)
    assert status == 200 and urllib.parse.urlsplit(url).path == LANDING


def test_the_lock_after_repeated_failures_and_its_release_by_ops(stack_factory: Any) -> None:
    """Issue 3 item 9: a locked account says so; ops unlock it."""
    stack = stack_factory(env={"IAM_LOGIN_LOCK_THRESHOLD": "3"})
    create_account(stack, "lucia.rosa")

    answers = [log_in(Browser(stack.url()), "lucia.rosa", "sbagliata ma lunga abbastanza") for _ in range(3)]
    locked = log_in(Browser(stack.url()), "lucia.rosa", PASSWORD)

    assert [status for status, _, _ in answers] == [401, 401, 401]
    assert "Troppi tentativi non riusciti" in answers[-1][2]
    assert locked[0] == 401 and "Troppi tentativi non riusciti" in locked[2]

    request = urllib.request.Request(  # noqa: S310 - the local stack
        # On IAM's own address: the gateway refuses the ops API at the public edge (issue 11 item 7).
        stack.api("iam", f"/api/iam/v1/ops/accounts/{account_id_of(stack, 'lucia.rosa')}/unlock"),
        data=b"{}",
        headers={"Content-Type": "application/json", "Authorization": "Bearer polis-dev-ops-token"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local stack
        assert response.status == 204

    status, url, _ = log_in(Browser(stack.url()), "lucia.rosa", PASSWORD)
    assert status == 200 and urllib.parse.urlsplit(url).path == LANDING
