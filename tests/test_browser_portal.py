"""The portal in a real browser (Debian's Chromium, headless, through its WebDriver) against the real stack:
pages render under the Content-Security-Policy without a single violation, the login works by keyboard and
mouse as a person would use it (D-ACC-4), and the self-hosted captcha solves itself in the browser and is
accepted by IAM (D-ACC-3)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from support.stack import SystemStack

pytestmark = pytest.mark.slow

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

# A demo account loaded by `make run` and by the stack (services/iam/iam/demo.py, README).
USERNAME = "mario.rossi"
PASSWORD = "lampone tavolo bicicletta nuvola"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail(
            "Chromium and chromedriver are missing: `make test` installs them (scripts/install.sh --browser)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.add_argument("--lang=it-IT")  # an Italian user: the portal answers in Italian
    options.add_experimental_option("prefs", {"intl.accept_languages": "it-IT,it"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver), options=options)
    chrome.set_page_load_timeout(30)
    try:
        yield chrome
    finally:
        chrome.quit()


def console_problems(chrome: webdriver.Chrome) -> list[str]:
    """Errors the page logged: CSP violations, failed scripts or assets."""
    return [
        entry["message"] for entry in chrome.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")
    ]


def test_a_person_logs_in_from_the_home_page_and_reaches_the_personal_home(
    stack: SystemStack, browser: webdriver.Chrome
) -> None:
    wait = WebDriverWait(browser, 20)
    browser.get(stack.url("/"))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "it"
    browser.find_element(By.LINK_TEXT, "Accedi").click()

    wait.until(expected_conditions.presence_of_element_located((By.NAME, "username")))
    assert "/oidc/authorize" in browser.current_url  # the endpoint shows the login form itself (issue 18)
    # Labels belong to their fields: a screen reader announces them.
    username = browser.find_element(By.NAME, "username")
    label = browser.find_element(By.CSS_SELECTOR, f"label[for='{username.get_attribute('id')}']")
    assert label.text.strip().startswith("Nome utente")
    username.send_keys(USERNAME)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type='submit']").click()

    # D-ENA-1: the login lands on enablement's decision (mario.rossi is enabled in the demo data: on to the
    # personal home of Istanze OnLine); those pages are tests/test_browser_enablement.py's. Then the portal's.
    wait.until(lambda chrome: "/abilitazione/" in chrome.current_url or "/istanze/" in chrome.current_url)
    console_problems(browser)  # read, and so cleared: the landing pages are checked where they are tested
    browser.get(stack.url("/area-personale"))
    assert "Mario" in browser.find_element(By.TAG_NAME, "main").text
    problems = console_problems(browser)
    assert problems == [], "\n".join(p[:200] + " ... " + p[-300:] for p in problems)
    # Issue 13 item 2: every page's header names who is signed in, whichever app rendered it.
    for path in ("/", "/iam/area-riservata", "/iam/registrazione/step1", "/no-such-page"):
        browser.get(stack.url(path))
        menu = browser.find_element(By.ID, "account-menu")
        assert "Mario Rossi" in menu.text, path
        assert not browser.find_elements(By.CSS_SELECTOR, "header a[href='/accedi']"), path
    # Issue 13 item 7: "Esci" is a form's button (a POST with the session's token), shown as a menu item.
    browser.find_element(By.ID, "account-menu-button").click()
    button = (By.CSS_SELECTOR, "#account-menu .logout-form button")
    logout = wait.until(expected_conditions.visibility_of_element_located(button))
    assert logout.text == "Esci" and not browser.find_elements(By.CSS_SELECTOR, "a[href='/esci']")
    logout.click()
    wait.until(lambda chrome: chrome.find_elements(By.CSS_SELECTOR, "header a[href='/accedi']"))
    browser.get(stack.url("/area-personale"))
    wait.until(expected_conditions.url_contains("/oidc/authorize"))  # out: the login form asks again


def test_the_registration_captcha_is_solved_in_the_browser_and_accepted(
    stack: SystemStack, browser: webdriver.Chrome
) -> None:
    wait = WebDriverWait(browser, 30)
    browser.get(stack.url("/iam/registrazione/step1"))
    browser.find_element(By.NAME, "codice_fiscale").send_keys("BNCGNN85T10A944B")
    # ALTCHA: the widget fetches a challenge from IAM and works out the proof of work in a web worker.
    checkbox = wait.until(
        expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, "altcha-widget input"))
    )
    checkbox.click()
    wait.until(
        lambda chrome: chrome.find_element(
            By.CSS_SELECTOR, "altcha-widget input[name='captcha']"
        ).get_attribute("value")
    )
    browser.find_element(By.CSS_SELECTOR, "form button[type='submit']").click()

    wait.until(expected_conditions.url_contains("/iam/registrazione/step2"))
    problems = console_problems(browser)
    assert problems == [], "\n".join(p[:200] + " ... " + p[-300:] for p in problems)


def test_issue_5_a_person_signs_in_to_a_partner_service_with_the_istanze_credentials(
    stack_factory: Any, browser: webdriver.Chrome
) -> None:
    """From the partner's own "Accedi" (no portal session first): IAM's login page, then back to the partner
    with the claims. The browser checks the login page's CSP form-action along the redirects that end at
    the partner, on another origin: IAM names that origin and the gateway allows it for that page."""
    from iam.demo import DEMO_ACCOUNTS
    from polis.testing.partner_demo import start_demo
    from polis.testing.ports import free_port

    demo_port = free_port()
    stack = stack_factory(
        env={
            "IAM_PAGOINRETE_DEMO_URL": f"http://localhost:{demo_port}",
            "IAM_PARTNER_CLIENT_SECRET_PAGOINRETE": "browser-test-pagoinrete-secret",
        }
    )
    start_demo(stack, demo_port)
    demo = f"http://localhost:{demo_port}"
    wait = WebDriverWait(browser, 20)

    browser.get(f"{demo}/")
    browser.find_element(By.LINK_TEXT, "Accedi con le credenziali di Istanze OnLine").click()
    wait.until(expected_conditions.presence_of_element_located((By.NAME, "username")))
    assert "/oidc/authorize" in browser.current_url  # the endpoint shows the login form itself (issue 18)
    browser.find_element(By.NAME, "username").send_keys(USERNAME)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type='submit']").click()

    wait.until(lambda chrome: chrome.current_url.startswith(f"{demo}/") and USERNAME in chrome.page_source)
    mario = next(entry for entry in DEMO_ACCOUNTS if entry.username == USERNAME)
    assert mario.codice_fiscale in browser.find_element(By.TAG_NAME, "body").text  # the fiscal number claim
    problems = console_problems(browser)
    assert problems == [], "\n".join(p[:200] + " ... " + p[-300:] for p in problems)
