"""Enablement in a real browser (Chromium through its WebDriver) against the real stack, by keyboard: the
user asks for the enablement (D-ENA-1, D-ENA-2), the operator of the office finds the request by its number
and confirms it after recording the document (D-ENA-3, D-ENA-10), and the user's next access starts with the
mandatory change of the temporary code (D-ENA-4). Every page is checked with axe-core (WCAG 2 A/AA) and
must log no console problem (CSP violations, failed assets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.stack import SystemStack
from test_browser_portal import browser, console_problems  # noqa: F401 - the browser fixture
from test_enablement_e2e import CF, create_account
from test_login_e2e import PASSWORD

pytestmark = pytest.mark.slow

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

AXE = Path(__file__).resolve().parents[1] / "gateway" / "node_modules" / "axe-core" / "axe.min.js"
OPERATOR, OPERATOR_PASSWORD = "paolo.neri", "quaderno lavagna gessetto campanella"  # IAM's demo operator


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
    assert axe_violations(chrome) == []
    problems = [p for p in console_problems(chrome) if not (refused_form and "status of 400" in p)]
    assert problems == [], "\n".join(p[:300] for p in problems)


def log_in(chrome: Any, stack: SystemStack, username: str, password: str, next_path: str) -> None:
    chrome.get(stack.url(f"/accedi?next={next_path}"))
    WebDriverWait(chrome, 20).until(expected_conditions.presence_of_element_located((By.NAME, "username")))
    chrome.find_element(By.NAME, "username").send_keys(username)
    chrome.find_element(By.NAME, "password").send_keys(password, Keys.ENTER)
    WebDriverWait(chrome, 20).until(expected_conditions.url_contains(next_path))


def log_out(chrome: Any, stack: SystemStack) -> None:
    """ "Esci" and its confirmation (a POST with the session's token), then a clean browser."""
    chrome.get(stack.url("/esci"))
    if chrome.find_elements(By.ID, "logout-confirm"):
        chrome.find_element(By.ID, "logout-confirm").click()
        signed_out = (By.CSS_SELECTOR, "header a[href='/accedi']")
        WebDriverWait(chrome, 20).until(expected_conditions.presence_of_element_located(signed_out))
    chrome.delete_all_cookies()


def test_request_identification_and_forced_change_in_the_browser(
    stack: SystemStack,
    browser: Any,  # noqa: F811 - the fixture
) -> None:
    assert AXE.exists(), "gateway/node_modules/axe-core is missing: make install"
    wait = WebDriverWait(browser, 30)
    create_account(stack, "lucia.verdi", codice_fiscale=CF)

    log_in(browser, stack, "lucia.verdi", PASSWORD, "/abilitazione/")
    wait.until(expected_conditions.presence_of_element_located((By.ID, "personal-data")))
    assert "Lucia" in browser.find_element(By.ID, "personal-data").text
    assert_clean(browser)
    # Keyboard only: type, tab to the checkbox, space, then Enter on the button.
    field = browser.find_element(By.NAME, "codice_fiscale")
    field.send_keys("corto", Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[aria-invalid='true']")))
    assert "Il codice fiscale ha 16 caratteri" in browser.find_element(By.TAG_NAME, "main").text
    assert_clean(browser, refused_form=True)
    field = browser.find_element(By.NAME, "codice_fiscale")
    field.clear()
    field.send_keys(CF, Keys.TAB, Keys.SPACE)
    browser.switch_to.active_element.send_keys(Keys.TAB, Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "request-number")))
    number = browser.find_element(By.ID, "request-number").text
    assert number.startswith("ENA-")
    assert_clean(browser)
    log_out(browser, stack)

    log_in(browser, stack, OPERATOR, OPERATOR_PASSWORD, "/abilitazione/operatore")
    wait.until(expected_conditions.presence_of_element_located((By.NAME, "q")))
    assert_clean(browser)
    browser.find_element(By.NAME, "q").send_keys(number, Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "found-number")))
    assert CF in browser.find_element(By.ID, "person").text
    assert_clean(browser)
    browser.find_element(By.NAME, "document_type").send_keys("Passaporto")
    browser.find_element(By.NAME, "document_number").send_keys("YA1234567")
    browser.find_element(By.NAME, "document_issuer").send_keys("Questura di Roma")
    browser.find_element(By.NAME, "document_issued_on").send_keys("01022020")
    browser.find_element(By.NAME, "document_expires_on").send_keys("01022030")
    browser.find_element(By.NAME, "form_signed").send_keys(Keys.SPACE)
    browser.find_element(By.CSS_SELECTOR, "button[value='confirm']").send_keys(Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "outcome")))
    assert "Abilitazione confermata" in browser.find_element(By.ID, "outcome").text
    assert_clean(browser)
    log_out(browser, stack)

    log_in(browser, stack, "lucia.verdi", PASSWORD, "/abilitazione/")
    wait.until(expected_conditions.presence_of_element_located((By.ID, "forced")))
    assert browser.current_url.endswith("/abilitazione/cambia-codice")
    assert_clean(browser)
