"""The portal in a real browser (Debian's Chromium, headless, through its WebDriver) against the real stack:
pages render under the Content-Security-Policy without a single violation, the login works by keyboard and
mouse as a person would use it (D-ACC-4), and the self-hosted captcha solves itself in the browser and is
accepted by IAM (D-ACC-3)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

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
    assert "/iam/accedi" in browser.current_url
    # Labels belong to their fields: a screen reader announces them.
    username = browser.find_element(By.NAME, "username")
    label = browser.find_element(By.CSS_SELECTOR, f"label[for='{username.get_attribute('id')}']")
    assert label.text.strip().startswith("Nome utente")
    username.send_keys(USERNAME)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type='submit']").click()

    wait.until(expected_conditions.url_contains("/area-personale"))
    assert "Mario" in browser.find_element(By.TAG_NAME, "main").text
    problems = console_problems(browser)
    assert problems == [], "\n".join(p[:200] + " ... " + p[-300:] for p in problems)


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
