"""Issue 13 item 7 in a real browser (Chromium): "Esci" is the header menu's form button and the GET of the
logout URL a confirmation page, both axe-clean in Italian and English; the static files arrive compressed
under fingerprinted names, with no console error (CSP, a missing asset)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from support.stack import SystemStack
from test_browser_enablement import AXE, axe_violations, log_in
from test_browser_portal import PASSWORD, USERNAME, browser, console_problems  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

SIGNED_OUT = (By.CSS_SELECTOR, "header a[href='/accedi']")


def test_issue_13_logout_from_the_header_and_its_confirmation_page(
    stack: SystemStack,
    browser: Any,  # noqa: F811 - the fixture
) -> None:
    assert AXE.exists(), "gateway/node_modules/axe-core is missing: make install"
    wait = WebDriverWait(browser, 20)
    log_in(browser, stack, USERNAME, PASSWORD, "/area-personale")

    # The header's menu open: "Esci" is a button of a POST form, and the page stays axe-clean.
    browser.find_element(By.ID, "account-menu-button").click()
    button = wait.until(
        expected_conditions.visibility_of_element_located(
            (By.CSS_SELECTOR, "#account-menu .logout-form button")
        )
    )
    assert button.text == "Esci"
    assert (
        browser.find_element(By.CSS_SELECTOR, "#account-menu .logout-form").get_attribute("method") == "post"
    )
    assert axe_violations(browser) == []

    # A GET of the logout URL only asks, in Italian and in English.
    browser.get(stack.url("/esci"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Vuoi uscire da Istanze OnLine?"
    assert axe_violations(browser) == []
    browser.get(stack.url("/lingua/en?next=/esci"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Do you want to log out of Istanze OnLine?"
    assert axe_violations(browser) == []
    browser.get(stack.url("/area-personale"))
    assert "/area-personale" in browser.current_url  # still signed in after those GETs
    assert console_problems(browser) == []

    # The confirmation's button logs out (IAM's end-session, back to the portal, signed out).
    browser.get(stack.url("/esci"))
    browser.find_element(By.ID, "logout-confirm").click()
    wait.until(expected_conditions.presence_of_element_located(SIGNED_OUT))
    browser.get(stack.url("/area-personale"))
    wait.until(expected_conditions.url_contains("/oidc/authorize"))  # the login form (issue 18)


def test_issue_13_static_files_arrive_compressed_under_fingerprinted_names(
    stack: SystemStack,
    browser: Any,  # noqa: F811 - the fixture
) -> None:
    browser.get(stack.url("/"))

    resources = browser.execute_script(
        "return performance.getEntriesByType('resource')"
        ".map(r => [r.name, r.encodedBodySize, r.decodedBodySize]);"
    )
    assets = {re.sub(r"^https?://[^/]+", "", name): (sent, size) for name, sent, size in resources}
    bundle = [path for path in assets if "bootstrap-italia.bundle.min." in path]
    css = [path for path in assets if "bootstrap-italia.min." in path and path.endswith(".css")]
    assert bundle and css, assets
    for path in (*bundle, *css):
        assert re.search(r"\.[0-9a-f]{12}\.(js|css)$", path), path
        sent, size = assets[path]
        assert 0 < sent < size / 3, (path, sent, size)  # compressed on the wire
    assert console_problems(browser) == []
