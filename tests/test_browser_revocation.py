"""The ops page of revocation rounds in a real browser (Chromium through its WebDriver) against the real
stack (issue 16, D-REV-4): an ops user reaches it from the Area Riservata menu by keyboard and sees the round
with its counts; the page is checked with axe-core (WCAG 2 A/AA) and logs no console problem."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from support.stack import StackFactory
from test_browser_enablement import AXE, assert_clean, log_in
from test_browser_portal import browser, console_problems  # noqa: F401 - the browser fixture
from test_enablement_e2e import create_account
from test_login_e2e import PASSWORD
from test_revocation_e2e import OPS_TOKEN, add_account, ops

pytestmark = pytest.mark.slow

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PAGE = "/iam/area-riservata/revoche"


def test_d_rev_4_an_ops_user_sees_the_rounds_with_their_counts(
    stack_factory: StackFactory,
    browser: Any,  # noqa: F811 - the fixture
) -> None:
    stack = stack_factory(process_env={"iam": {"IAM_OPS_TOKEN": OPS_TOKEN}})
    assert AXE.exists(), "gateway/node_modules/axe-core is missing: make install"
    create_account(stack, "olga.ops", roles=["ops"])
    for name in ("anna.rossi", "bruno.neri"):
        add_account(stack, name, last_access_at=datetime(2014, 1, 1, tzinfo=UTC))
    round_id = ops(stack, "POST", "", {"cutoff": "2015-03-01", "deadline": "2099-07-12T24:00"})["id"]
    ops(stack, "POST", f"/{round_id}/preview", {"sample_size": 1})

    log_in(browser, stack, "olga.ops", PASSWORD, "/iam/area-riservata")
    link = browser.find_element(By.CSS_SELECTOR, f"a[href='{PAGE}']")
    link.send_keys(Keys.ENTER)  # keyboard: the menu entry
    WebDriverWait(browser, 20).until(
        expected_conditions.presence_of_element_located((By.ID, "revocation-rounds"))
    )

    row = browser.find_element(By.CSS_SELECTOR, f"tr[data-round='{round_id}']")
    assert row.text.split()[:3] == ["Bozza", "01/03/2015", "2099-07-13"]
    assert "2" in row.text.split()  # affected at the preview
    assert browser.find_element(By.TAG_NAME, "h2").text == "Revoche utenze inattive"
    assert_clean(browser)
