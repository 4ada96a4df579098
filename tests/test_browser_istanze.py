"""Istanze OnLine in a real browser (Chromium through its WebDriver) against the real stack (issue 15): the
enabled demo user declares the staff category, opens a procedure, saves a draft, resumes it, submits it with
the personal code (a wrong one first; a double click on "Inoltra" gives one submission), finds the receipt
(PDF/A) in the archive and by email, withdraws, resubmits, and after the deadline sees the application
read-only with the window in Italian time. Another user of another staff category is refused, then, not
enabled, is sent to the enablement. Every page is checked with axe-core (WCAG 2 A/AA), in Italian and in
English, and must log no console problem. Rules: D-IST-1, D-IST-2, D-IST-3, D-IST-4, D-IST-6."""

from __future__ import annotations

import base64
import io
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pypdf
import pytest
from polis.db import Database
from polis.testing.helpers import wait_until
from support.stack import SystemStack
from test_browser_enablement import AXE, axe_violations, log_in, log_out
from test_browser_portal import browser, console_problems  # noqa: F401 - the browser fixture
from test_enablement_e2e import EMAIL_TIMEOUT

pytestmark = pytest.mark.slow

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

# The demo data of `make run` (services/iam/iam/demo.py, services/enablement/enablement/demo.py).
MARIO, MARIO_PASSWORD, MARIO_EMAIL = (
    "mario.rossi",
    "lampone tavolo bicicletta nuvola",
    "mario.rossi@example.it",
)
PERSONAL_CODE = "Abilitato2026"  # enablement's DEMO_PERSONAL_CODE: mario.rossi is enabled
GIULIA, GIULIA_PASSWORD = "giulia.bianchi", "girasole treno montagna biscotto"  # a request still pending
CODE = "e2e-modello-d3"
FORM_URL = f"/istanze/procedure/{CODE}"
SUMMARY_URL = FORM_URL + "/riepilogo"
ROME = ZoneInfo("Europe/Rome")
FORM = {
    "sections": [
        {
            "id": "servizio",
            "title_it": "Dati di servizio",
            "title_en": "Service details",
            "fields": [
                {"name": "qualifica", "type": "text", "required": True, "max_length": 60,
                 "label_it": "Qualifica", "label_en": "Position"},
                {"name": "anni", "type": "number", "integer": True, "min": 0, "max": 45, "required": True,
                 "label_it": "Anni di servizio", "label_en": "Years of service"},
            ],
        },
        {
            "id": "sedi",
            "title_it": "Scelta delle sedi",
            "title_en": "Choice of schools",
            "fields": [
                {"name": "schools", "type": "schools", "max_items": 5, "required": True},
                {"name": "dpr445", "type": "declaration", "required": True,
                 "label_it": "Dichiaro, ai sensi del DPR 445/2000, che quanto indicato corrisponde al vero.",
                 "label_en": "I declare under DPR 445/2000 that the above is true."},
            ],
        },
    ]
}  # fmt: skip


def publish_procedure(stack: SystemStack, *, closes_local: datetime) -> None:
    """A new published version of the test's procedure, for ATA staff, open since yesterday (D-IST-1):
    what ops do through the API or the CLI, written here to istanze's database like create_account does."""
    from istanze.procedures import service as procedures

    opens = datetime.now(ROME).replace(tzinfo=None, microsecond=0) - timedelta(days=1)
    with Database(stack.database_url("istanze")).transaction() as session:
        procedure = procedures.define(
            session,
            code=CODE,
            title_it="Modello D3 di prova – scelta delle sedi (personale ATA)",  # noqa: RUF001
            title_en="Test form D3 – choice of schools (ATA staff)",  # noqa: RUF001
            description_it="Procedura della prova end-to-end.",
            description_en="The end-to-end test's procedure.",
            staff_categories=["ata"],
            opens_local=opens,
            closes_local=closes_local,
            form=FORM,
        )
        procedures.publish(session, code=CODE, version=procedure.version)


def check_page(chrome: Any, *, statuses: tuple[int, ...] = ()) -> None:
    """No axe violation, nothing in the console but the expected status of a refused form or page."""
    assert axe_violations(chrome) == []
    problems = [
        p for p in console_problems(chrome) if not any(f"status of {status}" in p for status in statuses)
    ]
    assert problems == [], "\n".join(p[:300] for p in problems)


def header_names_the_user(chrome: Any, name: str) -> None:
    header = chrome.find_element(By.TAG_NAME, "header").text
    assert name in header, header[:300]


def main_text(chrome: Any) -> str:
    return chrome.find_element(By.TAG_NAME, "main").text


def open_page(chrome: Any, stack: SystemStack, path: str, wait_for: str) -> None:
    chrome.get(stack.url(path))
    WebDriverWait(chrome, 30).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, wait_for))
    )


def declare_category(chrome: Any, wait: WebDriverWait, category: str) -> None:
    Select(chrome.find_element(By.NAME, "staff_category")).select_by_value(category)
    chrome.find_element(By.CSS_SELECTOR, "#category-form button[type=submit]").send_keys(Keys.ENTER)
    wait.until(expected_conditions.url_contains("categoria=salvata"))


def fetch(chrome: Any, path: str) -> tuple[int, str, bytes]:
    """GET `path` from the page (same origin, the browser's cookies): status, content type, body."""
    status, kind, encoded = chrome.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'}).then(async r => {"
        "  const bytes = new Uint8Array(await r.arrayBuffer()); let text = '';"
        "  for (let i = 0; i < bytes.length; i += 8192)"
        "    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));"
        "  done([r.status, r.headers.get('content-type'), btoa(text)]);"
        "});",
        path,
    )
    return status, kind, base64.b64decode(encoded)


def assert_receipt(content: bytes, number: str) -> None:
    """The receipt is a PDF/A with the protocol number and the answers (D-IST-3)."""
    pdf = pypdf.PdfReader(io.BytesIO(content))
    text = " ".join(page.extract_text() for page in pdf.pages)
    assert number in text and "RMIC8AB00X" in text and "Assistente" in text, text[:500]
    xmp = pdf.xmp_metadata
    assert xmp is not None and xmp.pdfaid_part in ("1", "2", "3"), "no PDF/A identification in the XMP"


def new_emails(stack: SystemStack, before: int, count: int) -> list[Any]:
    """The emails to mario that came after the first `before`, once there are `count` of them."""
    return wait_until(
        lambda: (found := stack.smtp.emails_to(MARIO_EMAIL)[before:]) and len(found) >= count and found,
        timeout=EMAIL_TIMEOUT,
    )


def fill_the_draft(
    chrome: Any, stack: SystemStack, wait: WebDriverWait, not_a_number: str = "Inserire un numero."
) -> None:
    """The first section with a mistake first (the server's message next to the field), then right."""
    open_page(chrome, stack, FORM_URL, "#section-form")
    check_page(chrome)
    chrome.find_element(By.NAME, "qualifica").send_keys("Assistente amministrativo")
    chrome.find_element(By.NAME, "anni").send_keys("dodici", Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "anni-error")))
    assert not_a_number in chrome.find_element(By.ID, "anni-error").text
    assert chrome.find_element(By.ID, "anni").get_attribute("aria-invalid") == "true"
    check_page(chrome, statuses=(400,))
    field = chrome.find_element(By.NAME, "anni")
    field.clear()
    field.send_keys("12", Keys.ENTER)  # Enter: "Salva e continua", the form's first button
    wait.until(expected_conditions.url_contains("sezione=sedi"))


def test_an_application_from_draft_to_receipt_withdrawal_resubmission_and_deadline_in_the_browser(
    stack: SystemStack,
    browser: Any,  # noqa: F811 - the fixture
) -> None:
    assert AXE.exists(), "gateway/node_modules/axe-core is missing: make install"
    wait = WebDriverWait(browser, 30)
    publish_procedure(
        stack, closes_local=datetime.now(ROME).replace(tzinfo=None, microsecond=0) + timedelta(days=2)
    )

    # The personal home (item 9): who is logged in, the category, then the procedures of that category.
    before = len(stack.smtp.emails_to(MARIO_EMAIL))
    log_in(browser, stack, MARIO, MARIO_PASSWORD, "/istanze/")
    wait.until(expected_conditions.presence_of_element_located((By.ID, "category-form")))
    header_names_the_user(browser, "Mario")
    check_page(browser)
    declare_category(browser, wait, "ata")
    wait.until(expected_conditions.presence_of_element_located((By.ID, f"procedure-{CODE}")))
    entry = browser.find_element(By.ID, f"procedure-{CODE}").text
    assert "(ora italiana)" in entry and "tempo rimasto: 1 giorno e 23 ore" in entry, entry
    assert (
        browser.find_element(By.ID, "service-functions")
        .get_attribute("href")
        .endswith("/abilitazione/servizio")
    )
    check_page(browser)

    # A draft: the first section saved, the user leaves, comes back and finds it (D-IST-2).
    fill_the_draft(browser, stack, wait)
    assert "Sezione salvata" in main_text(browser)
    check_page(browser)
    open_page(browser, stack, "/istanze/", "#applications")
    assert "Bozza" in browser.find_element(By.ID, "applications").text
    browser.find_element(By.CSS_SELECTOR, f"#procedure-{CODE} a").send_keys(Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "section-form")))
    assert browser.find_element(By.NAME, "qualifica").get_attribute("value") == "Assistente amministrativo"
    browser.find_element(By.NAME, "anni").send_keys(Keys.ENTER)
    wait.until(expected_conditions.url_contains("sezione=sedi"))
    Select(browser.find_element(By.NAME, "schools-1")).select_by_value("RMIC8AB00X")
    Select(browser.find_element(By.NAME, "schools-2")).select_by_value("MIIS00900T")
    browser.find_element(By.NAME, "dpr445").send_keys(Keys.SPACE)
    browser.find_element(By.CSS_SELECTOR, "button[value=avanti]").send_keys(Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "send-form")))
    summary = main_text(browser)
    assert "Istituto comprensivo Via Roma" in summary and "Bozza" in summary
    check_page(browser)

    # A wrong personal code: the draft stays, the message is next to the field (D-IST-2).
    browser.find_element(By.NAME, "personal_code").send_keys("Sbagliato99", Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "personal_code-error")))
    assert "non è corretto" in browser.find_element(By.ID, "personal_code-error").text
    assert "Bozza" in browser.find_element(By.ID, "application-state").text
    check_page(browser, statuses=(400,))

    # The right code, and "Inoltra" sent twice at once with the page's key (what a double click can do:
    # Chromium itself sends one of two quick clicks): one submission, one protocol number (D-IST-6).
    browser.find_element(By.NAME, "personal_code").send_keys(PERSONAL_CODE)
    statuses = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const form = document.getElementById('send-form');"
        "const send = () => fetch(form.action, {method: 'POST', credentials: 'same-origin',"
        "  body: new URLSearchParams(new FormData(form))}).then(r => r.status);"
        "Promise.all([send(), send()]).then(done);"
    )
    assert statuses == [200, 200], statuses  # both answered with the submitted application's summary
    send = browser.find_element(By.ID, "send")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", send)
    ActionChains(browser).double_click(send).perform()  # and a real double click on the same page's key
    wait.until(expected_conditions.presence_of_element_located((By.ID, "protocol-number")))
    first = browser.find_element(By.ID, "protocol-number").text
    assert re.fullmatch(r"\d{7}", first), first
    assert "Inoltrata" in browser.find_element(By.ID, "application-state").text
    check_page(browser)
    status, kind, content = fetch(browser, browser.find_element(By.ID, "receipt-link").get_attribute("href"))
    assert status == 200 and kind.startswith("application/pdf")
    assert_receipt(content, first)
    open_page(browser, stack, "/istanze/", "#archive")
    archive = browser.find_element(By.ID, "archive").text
    rows = browser.find_elements(By.CSS_SELECTOR, "#archive tbody tr")
    assert len(rows) == 1 and first in archive and "Inoltrata" in archive  # one submission for two clicks
    check_page(browser)
    mail = new_emails(stack, before, 1)[0]
    attached = [part for part in mail.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert attached, "the submission email carries the receipt"
    assert_receipt(attached[0].get_content(), first)

    # Withdraw with a confirmation ("annulla inoltro"), then resubmit: a new number (D-IST-3).
    open_page(browser, stack, SUMMARY_URL, "#withdraw-link")
    browser.find_element(By.ID, "withdraw-link").send_keys(Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "confirm-withdraw")))
    assert first in browser.find_element(By.ID, "withdraw-warning").text
    check_page(browser)
    browser.find_element(By.ID, "confirm-withdraw").send_keys(Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "withdrawn")))
    assert "Annullata" in browser.find_element(By.ID, "application-state").text
    check_page(browser)
    browser.find_element(By.NAME, "personal_code").send_keys(PERSONAL_CODE, Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "protocol-number")))
    second = browser.find_element(By.ID, "protocol-number").text
    assert second != first and int(second) > int(first)
    open_page(browser, stack, "/istanze/", "#archive")
    rows = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#archive tbody tr")]
    assert any(first in row and "Annullata" in row for row in rows) and any(second in row for row in rows)
    later = new_emails(
        stack, before, 3
    )  # submitted, withdrawn ("annulla inoltro" is emailed), submitted again
    assert (
        sum(1 for m in later for p in m.iter_attachments() if p.get_content_type() == "application/pdf") == 2
    )

    # The deadline passes (ops publish a version closing in 2 seconds): read-only, the window in Italian time.
    closes = datetime.now(ROME).replace(tzinfo=None, microsecond=0) + timedelta(seconds=2)
    publish_procedure(stack, closes_local=closes)

    def read_only() -> bool:
        browser.get(stack.url(SUMMARY_URL))
        return bool(browser.find_elements(By.ID, "read-only"))

    wait_until(read_only, timeout=30, interval=0.5)
    notice = browser.find_element(By.ID, "read-only").text
    assert "Il termine è scaduto il" in notice and f"{closes:%H:%M}" in notice and "(ora italiana)" in notice
    assert not browser.find_elements(By.ID, "withdraw-link") and not browser.find_elements(
        By.NAME, "personal_code"
    )
    check_page(browser)

    # The same pages in English, axe-clean too; the recapito page (D-IST-4) with an inline error.
    browser.get(stack.url("/lingua/en?next=/istanze/"))
    wait.until(expected_conditions.presence_of_element_located((By.ID, "archive")))
    assert "Withdrawn" in browser.find_element(By.ID, "archive").text
    check_page(browser)
    for path, marker in ((SUMMARY_URL, "#read-only"), ("/istanze/recapito", "#contacts-form")):
        open_page(browser, stack, path, marker)
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
        check_page(browser)
    browser.find_element(By.NAME, "mobile_phone").send_keys("12", Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "mobile_phone-error")))
    assert "Not a valid phone number" in browser.find_element(By.ID, "mobile_phone-error").text
    check_page(browser, statuses=(400,))
    browser.get(stack.url("/lingua/it?next=/istanze/recapito"))
    wait.until(expected_conditions.presence_of_element_located((By.ID, "contacts-form")))
    check_page(browser)
    log_out(browser, stack)


def test_another_staff_category_is_refused_and_a_user_not_enabled_is_sent_to_the_enablement(
    stack: SystemStack,
    browser: Any,  # noqa: F811 - the fixture
) -> None:
    """In English this time: the home, the refusal, the form with its errors and the summary (axe on each)."""
    wait = WebDriverWait(browser, 30)
    publish_procedure(
        stack, closes_local=datetime.now(ROME).replace(tzinfo=None, microsecond=0) + timedelta(days=2)
    )
    log_in(browser, stack, GIULIA, GIULIA_PASSWORD, "/istanze/")
    browser.get(stack.url("/lingua/en?next=/istanze/"))
    wait.until(expected_conditions.presence_of_element_located((By.ID, "category-form")))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    check_page(browser)
    declare_category(browser, wait, "docenti")
    assert not browser.find_elements(By.ID, f"procedure-{CODE}")  # D-IST-6: not for teachers
    assert "Declared category: Teaching staff" in main_text(browser)
    check_page(browser)
    browser.get(stack.url(FORM_URL))
    wait.until(expected_conditions.presence_of_element_located((By.ID, "refused")))
    assert "not for the staff category you declared" in browser.find_element(By.ID, "refused").text
    check_page(browser, statuses=(403,))

    open_page(browser, stack, "/istanze/", "#category-form")
    declare_category(browser, wait, "ata")
    fill_the_draft(browser, stack, wait, not_a_number="Enter a number.")
    assert "Section saved" in main_text(browser)
    check_page(browser)
    Select(browser.find_element(By.NAME, "schools-1")).select_by_value("RMPS01000A")
    browser.find_element(By.NAME, "dpr445").send_keys(Keys.SPACE)
    browser.find_element(By.CSS_SELECTOR, "button[value=avanti]").send_keys(Keys.ENTER)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "send-form")))
    assert "Liceo scientifico Galileo Galilei" in main_text(browser)
    check_page(browser)
    browser.find_element(By.NAME, "personal_code").send_keys("Qualsiasi2026", Keys.ENTER)
    # D-IST-2: only enabled accounts submit; giulia's request is pending, enablement's page says so.
    wait.until(expected_conditions.url_contains("/abilitazione/"))
    check_page(browser)
    open_page(browser, stack, SUMMARY_URL, "#application-state")
    assert "Draft" in browser.find_element(By.ID, "application-state").text
    log_out(browser, stack)
