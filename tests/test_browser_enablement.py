"""Enablement in a real browser (Chromium through its WebDriver) against the real stack, by keyboard, the
whole chain of issue 14: "Accedi" lands on the enablement's decision (D-ENA-1); the user asks for the
enablement (D-ENA-2) and gets the email with the temporary code, the receipt link and the adhesion form (its
PDF text read); the operator of the office finds the request by its number and confirms it after recording
the document (D-ENA-3, D-ENA-10); the activation email, then the mandatory change of the temporary code at
the next access (D-ENA-4); enabled -> the personal home of Istanze OnLine; in "Funzioni di servizio" the
recovery with the security answer (D-ENA-5), the change (D-ENA-6) and the regeneration (D-ENA-7), which
sends the user back to an office: the re-identification and the mandatory change again. Then a security
officer assigns an operator to an office and removes the assignment (D-ENA-10). Every page is checked with
axe-core (WCAG 2 A/AA) in Italian, the service pages also in English, and must log no console problem (CSP
violations, failed assets)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from polis.db import Database
from polis.testing.helpers import wait_until
from support.stack import SystemStack
from test_browser_portal import browser, console_problems  # noqa: F401 - the browser fixture
from test_enablement_e2e import (
    ANSWER,
    CF,
    EMAIL_TIMEOUT,
    RECEIPT,
    RECOVERED,
    TEMPORARY,
    create_account,
    pdf_text,
    text,
)
from test_login_e2e import PASSWORD

pytestmark = pytest.mark.slow

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

AXE = Path(__file__).resolve().parents[1] / "gateway" / "node_modules" / "axe-core" / "axe.min.js"
OPERATOR, OPERATOR_PASSWORD = "paolo.neri", "quaderno lavagna gessetto campanella"  # IAM's demo operator
MAILBOX = "lucia.verdi@example.org"
FIRST_CODE, SECOND_CODE, THIRD_CODE = "Girasole2042", "Tramonto2043", "Scogliera2044"
SERVICE_PAGES = (
    "/abilitazione/servizio",
    "/abilitazione/cambia-codice",
    "/abilitazione/recupero-codice",
    "/abilitazione/rigenera-codice",
)


def axe_violations(chrome: Any) -> list[str]:
    """axe-core's WCAG 2 A/AA violations of the current page, one line each."""
    chrome.execute_script(AXE.read_text())
    violations = chrome.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']}).then(r => done(r.violations));"
    )
    return [f"{v['id']}: {[n['target'] for n in v['nodes']]}" for v in violations]


def assert_clean(chrome: Any, *, refused_form: bool = False) -> None:
    """No axe violation, nothing in the console (but the 400 of a refused form, when it was one)."""
    assert axe_violations(chrome) == [], chrome.current_url
    problems = [p for p in console_problems(chrome) if not (refused_form and "status of 400" in p)]
    assert problems == [], "\n".join(p[:300] for p in problems)


def log_in(chrome: Any, stack: SystemStack, username: str, password: str, next_path: str | None) -> None:
    """The portal's "Accedi" (with a page to come back to, or none: then where enablement decides)."""
    chrome.get(stack.url(f"/accedi?next={next_path}" if next_path else "/accedi"))
    WebDriverWait(chrome, 20).until(expected_conditions.presence_of_element_located((By.NAME, "username")))
    chrome.find_element(By.NAME, "username").send_keys(username)
    chrome.find_element(By.NAME, "password").send_keys(password, Keys.ENTER)
    WebDriverWait(chrome, 20).until(expected_conditions.url_contains(next_path or "/abilitazione/"))


def log_out(chrome: Any, stack: SystemStack) -> None:
    """ "Esci" and its confirmation (a POST with the session's token), then a clean browser."""
    chrome.get(stack.url("/esci"))
    if chrome.find_elements(By.ID, "logout-confirm"):
        chrome.find_element(By.ID, "logout-confirm").click()
        signed_out = (By.CSS_SELECTOR, "header a[href='/accedi']")
        WebDriverWait(chrome, 20).until(expected_conditions.presence_of_element_located(signed_out))
    chrome.delete_all_cookies()


def known_to_enablement(stack: SystemStack, account_id: uuid.UUID) -> None:
    """IAM's iam.account_registered fact has reached enablement's copy of the accounts."""
    from enablement.accounts.models import Account

    database = Database(stack.database_url("enablement"))
    try:

        def known() -> bool:
            with database.transaction() as session:
                return session.get(Account, account_id) is not None

        wait_until(known, timeout=60)
    finally:
        database.dispose()


def main_text(chrome: Any) -> str:
    return str(chrome.find_element(By.TAG_NAME, "main").text)


def open_service_function(chrome: Any, stack: SystemStack, link: str, wait: WebDriverWait) -> None:
    """Funzioni di servizio, then one of its links by keyboard."""
    chrome.get(stack.url("/abilitazione/servizio"))
    wait.until(expected_conditions.presence_of_element_located((By.LINK_TEXT, link)))
    chrome.find_element(By.LINK_TEXT, link).send_keys(Keys.ENTER)


def change_code(chrome: Any, wait: WebDriverWait, current: str, new: str) -> None:
    wait.until(expected_conditions.presence_of_element_located((By.NAME, "current_code")))
    chrome.find_element(By.NAME, "current_code").send_keys(current, Keys.TAB, new, Keys.TAB, new, Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "changed")))


def confirm_in_console(chrome: Any, stack: SystemStack, wait: WebDriverWait, number: str) -> None:
    """The office's operator finds the request by its number and confirms it with the document (D-ENA-3)."""
    log_in(chrome, stack, OPERATOR, OPERATOR_PASSWORD, "/abilitazione/operatore")
    wait.until(expected_conditions.presence_of_element_located((By.NAME, "q")))
    assert_clean(chrome)
    chrome.find_element(By.NAME, "q").send_keys(number, Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "found-number")))
    assert CF in chrome.find_element(By.ID, "person").text
    assert_clean(chrome)
    chrome.find_element(By.NAME, "document_type").send_keys("Passaporto")
    chrome.find_element(By.NAME, "document_number").send_keys("YA1234567")
    chrome.find_element(By.NAME, "document_issuer").send_keys("Questura di Roma")
    chrome.find_element(By.NAME, "document_issued_on").send_keys("01022020")
    chrome.find_element(By.NAME, "document_expires_on").send_keys("01022030")
    chrome.find_element(By.NAME, "form_signed").send_keys(Keys.SPACE)
    chrome.find_element(By.CSS_SELECTOR, "button[value='confirm']").send_keys(Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "outcome")))
    assert "Abilitazione confermata" in chrome.find_element(By.ID, "outcome").text
    assert_clean(chrome)
    log_out(chrome, stack)


def test_the_whole_enablement_chain_in_the_browser(
    stack: SystemStack,
    browser: Any,  # noqa: F811 - the fixture
) -> None:
    assert AXE.exists(), "gateway/node_modules/axe-core is missing: make install"
    wait = WebDriverWait(browser, 30)
    user_id = create_account(stack, "lucia.verdi", codice_fiscale=CF)
    known_to_enablement(stack, user_id)

    # D-ENA-1: "Accedi" on the home page, by keyboard: not enabled -> the enablement procedure.
    browser.get(stack.url("/"))
    browser.find_element(By.LINK_TEXT, "Accedi").send_keys(Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.NAME, "username")))
    browser.find_element(By.NAME, "username").send_keys("lucia.verdi")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD, Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "personal-data")))
    assert browser.current_url == stack.url("/abilitazione/")
    assert "Lucia" in browser.find_element(By.ID, "personal-data").text
    assert_clean(browser)
    # D-ENA-2, keyboard only: type, tab to the checkbox, space, then Enter on the button.
    field = browser.find_element(By.NAME, "codice_fiscale")
    field.send_keys("corto", Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[aria-invalid='true']")))
    assert "Il codice fiscale ha 16 caratteri" in main_text(browser)
    assert_clean(browser, refused_form=True)
    field = browser.find_element(By.NAME, "codice_fiscale")
    field.clear()
    field.send_keys(CF, Keys.TAB, Keys.SPACE)
    browser.switch_to.active_element.send_keys(Keys.TAB, Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "request-number")))
    number = browser.find_element(By.ID, "request-number").text
    assert number.startswith("ENA-")
    assert_clean(browser)

    # The email: the temporary code, the signed receipt link, the adhesion form as a PDF (its text).
    [requested] = stack.smtp.wait_for_email(MAILBOX, 1, timeout=EMAIL_TIMEOUT)
    temporary = TEMPORARY.search(text(requested)).group(1)  # type: ignore[union-attr]
    form = pdf_text(requested)
    for expected in (number, CF, "Verdi", "Dichiarazione", "Istituto Comprensivo Via Roma"):
        assert expected in form, expected
    link = RECEIPT.search(text(requested)).group(1)  # type: ignore[union-attr]
    browser.get(stack.url("/abilitazione/ricevuta?" + link.split("?", 1)[1]))
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "main form button")))
    assert_clean(browser)
    browser.find_element(By.CSS_SELECTOR, "main form button").send_keys(Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".alert-success")))
    assert number in main_text(browser)
    assert_clean(browser)
    log_out(browser, stack)

    confirm_in_console(browser, stack, wait, number)
    activated = stack.smtp.wait_for_email(MAILBOX, 2, timeout=EMAIL_TIMEOUT)[1]
    assert "Istituto Comprensivo Via Roma" in text(activated)  # D-ENA-4

    # D-ENA-4: the next access starts with the mandatory change of the temporary code.
    log_in(browser, stack, "lucia.verdi", PASSWORD, None)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "forced")))
    assert browser.current_url.endswith("/abilitazione/cambia-codice")
    assert_clean(browser)
    change_code(browser, wait, temporary, FIRST_CODE)
    assert_clean(browser)
    stack.smtp.wait_for_email(MAILBOX, 3, timeout=EMAIL_TIMEOUT)  # personal code changed
    # D-ENA-1: enabled -> the personal home of Istanze OnLine (its own pages are istanze's tests').
    browser.get(stack.url("/accedi"))
    wait.until(expected_conditions.url_contains("/istanze/"))
    console_problems(browser)  # read (and so cleared): not this test's page

    # D-ENA-5: recovery, a wrong (case-changed) answer first.
    open_service_function(browser, stack, "Recupero codice personale", wait)
    wait.until(expected_conditions.presence_of_element_located((By.NAME, "codice_fiscale")))
    assert_clean(browser)
    browser.find_element(By.NAME, "codice_fiscale").send_keys(CF, Keys.TAB, ANSWER.lower(), Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[aria-invalid='true']")))
    assert "risposta alla domanda di sicurezza non sono corretti" in main_text(browser)
    assert browser.find_element(By.NAME, "codice_fiscale").get_attribute("value") == CF  # kept
    assert_clean(browser, refused_form=True)
    browser.find_element(By.NAME, "security_answer").send_keys(ANSWER, Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "recovered")))
    assert_clean(browser)
    recovered_mail = stack.smtp.wait_for_email(MAILBOX, 4, timeout=EMAIL_TIMEOUT)[-1]
    recovered = RECOVERED.search(text(recovered_mail)).group(1)  # type: ignore[union-attr]

    # D-ENA-6: change, from the recovered code (the old one no longer works).
    open_service_function(browser, stack, "Cambia codice personale", wait)
    wait.until(expected_conditions.presence_of_element_located((By.NAME, "current_code")))
    assert browser.find_elements(By.ID, "forced") == []
    browser.find_element(By.NAME, "current_code").send_keys(
        FIRST_CODE, Keys.TAB, SECOND_CODE, Keys.TAB, SECOND_CODE, Keys.ENTER
    )
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[aria-invalid='true']")))
    assert "Il codice personale non è corretto." in main_text(browser)
    assert_clean(browser, refused_form=True)
    browser.find_element(By.NAME, "current_code").clear()
    change_code(browser, wait, recovered, SECOND_CODE)
    assert_clean(browser)
    stack.smtp.wait_for_email(MAILBOX, 5, timeout=EMAIL_TIMEOUT)

    # The service pages in English too (the language switch of the header, then back to Italian).
    browser.get(stack.url("/lingua/en?next=/abilitazione/servizio"))
    for path in SERVICE_PAGES:
        browser.get(stack.url(path))
        wait.until(expected_conditions.presence_of_element_located((By.TAG_NAME, "h1")))
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en", path
        assert_clean(browser)
    assert "Regenerate" in browser.find_element(By.TAG_NAME, "h1").text
    browser.get(stack.url("/lingua/it?next=/abilitazione/servizio"))

    # D-ENA-7: regenerate, after a clear warning and an explicit confirmation.
    open_service_function(browser, stack, "Rigenera codice personale", wait)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "warning")))
    assert "smetterà subito di funzionare" in browser.find_element(By.ID, "warning").text
    assert_clean(browser)
    browser.find_element(By.CSS_SELECTOR, "main form button[type='submit']").send_keys(Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[aria-invalid='true']")))
    assert_clean(browser, refused_form=True)
    browser.find_element(By.NAME, "understood").send_keys(Keys.SPACE)
    browser.find_element(By.CSS_SELECTOR, "main form button[type='submit']").send_keys(Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "regenerated")))
    assert_clean(browser)
    messages = stack.smtp.wait_for_email(MAILBOX, 7, timeout=EMAIL_TIMEOUT)
    renewed = next(m for m in reversed(messages) if TEMPORARY.search(text(m)))
    new_temporary = TEMPORARY.search(text(renewed)).group(1)  # type: ignore[union-attr]
    assert new_temporary != temporary
    browser.get(stack.url("/abilitazione/"))
    wait.until(expected_conditions.presence_of_element_located((By.ID, "request-number")))
    new_number = browser.find_element(By.ID, "request-number").text
    assert new_number != number and new_number in pdf_text(renewed)
    log_out(browser, stack)

    # Re-identification in an office (D-ENA-3), then the mandatory change again (D-ENA-4).
    confirm_in_console(browser, stack, wait, new_number)
    log_in(browser, stack, "lucia.verdi", PASSWORD, None)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "forced")))
    change_code(browser, wait, new_temporary, THIRD_CODE)
    browser.get(stack.url("/abilitazione/"))
    wait.until(expected_conditions.url_contains("/istanze/"))


def test_a_security_officer_assigns_an_operator_to_an_office_in_the_browser(
    stack: SystemStack,
    browser: Any,  # noqa: F811 - the fixture
) -> None:
    """D-ENA-10: offices and their operators, managed by a security officer by keyboard; the operator then
    acts for the office, and no longer once the assignment ends; both audited."""
    from enablement.audit.models import AuditEntry
    from sqlalchemy import select

    wait = WebDriverWait(browser, 30)
    officer_id = create_account(stack, "chiara.ferri", roles=["security_officer"])
    operator_id = create_account(stack, "dario.operatore", roles=["operator"])
    known_to_enablement(stack, operator_id)

    log_in(browser, stack, "chiara.ferri", PASSWORD, "/abilitazione/uffici")
    wait.until(expected_conditions.presence_of_element_located((By.ID, "offices")))
    assert "Galilei" in browser.find_element(By.ID, "office-MIPS01000C").text
    assert_clean(browser)
    # Keyboard: type to pick the office, tab to the username, Enter. A name nobody has first.
    browser.find_element(By.NAME, "office_code").send_keys("Liceo")
    browser.switch_to.active_element.send_keys(Keys.TAB, "nessuno.tale", Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[aria-invalid='true']")))
    assert "Nessun account ha questo nome utente." in main_text(browser)
    assert_clean(browser, refused_form=True)
    username = browser.find_element(By.NAME, "username")
    username.clear()
    username.send_keys("dario.operatore", Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "done")))
    assert "dario.operatore" in browser.find_element(By.ID, "office-MIPS01000C").text
    assert_clean(browser)
    browser.get(stack.url("/lingua/en?next=/abilitazione/uffici"))
    wait.until(expected_conditions.presence_of_element_located((By.ID, "offices")))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Offices and operators"
    assert_clean(browser)
    browser.get(stack.url("/lingua/it?next=/abilitazione/uffici"))
    log_out(browser, stack)

    # The operator now acts for that office.
    log_in(browser, stack, "dario.operatore", PASSWORD, "/abilitazione/operatore")
    wait.until(expected_conditions.presence_of_element_located((By.NAME, "q")))
    assert "Console" in browser.find_element(By.TAG_NAME, "h1").text
    log_out(browser, stack)

    log_in(browser, stack, "chiara.ferri", PASSWORD, "/abilitazione/uffici")
    wait.until(expected_conditions.presence_of_element_located((By.ID, "offices")))
    button = browser.find_element(
        By.XPATH, "//tr[@id='office-MIPS01000C']//li[contains(., 'dario.operatore')]//button"
    )
    assert "Rimuovi dario.operatore da MIPS01000C" in button.get_attribute("textContent")  # its name
    button.send_keys(Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "done")))
    assert "dario.operatore" not in browser.find_element(By.ID, "office-MIPS01000C").text
    assert_clean(browser)
    log_out(browser, stack)
    log_in(browser, stack, "dario.operatore", PASSWORD, "/abilitazione/operatore")
    wait.until(expected_conditions.presence_of_element_located((By.TAG_NAME, "h1")))
    assert "/abilitazione/operatore" in browser.current_url and browser.find_elements(By.NAME, "q") == []

    database = Database(stack.database_url("enablement"))
    with database.transaction() as session:
        audited = [
            (entry.action, entry.actor, entry.account_id, entry.details)
            for entry in session.scalars(
                select(AuditEntry).where(AuditEntry.action.like("operator.%")).order_by(AuditEntry.at)
            )
        ]
    database.dispose()
    assert audited[-2:] == [
        ("operator.assigned", str(officer_id), operator_id, {"office": "MIPS01000C"}),
        ("operator.unassigned", str(officer_id), operator_id, {"office": "MIPS01000C"}),
    ]
