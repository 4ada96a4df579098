"""Istanze end to end with real processes (issue 15): through the gateway with the portal's session, the
personal code checked by enablement's real worker over RabbitMQ, the receipt filed in the archive and
emailed by the notifier (the PDF's text and PDF/A metadata read from the SMTP sink), the withdrawal
emailed, a resubmission with the next protocol number, and a window that closes: read-only after it.
Rules: D-IST-1, D-IST-2, D-IST-3, D-IST-4, D-IST-6."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pypdf
import pytest
from bench.bench_common import D3_ANSWERS, ISTANZE_CONTACTS
from polis.testing.helpers import wait_until
from support.browser import Browser
from support.stack import SystemStack
from test_login_e2e import log_in

pytestmark = pytest.mark.slow

EMAIL_TIMEOUT = 60.0
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
MARIO = ("mario.rossi", "lampone tavolo bicicletta nuvola", "mario.rossi@example.it")
PERSONAL_CODE = "Abilitato2026"  # enablement's demo data: mario.rossi is enabled with it
CONTACTS, ANSWERS = ISTANZE_CONTACTS, D3_ANSWERS  # tests/chaos imports them from here


def call(browser: Browser, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """A JSON call with the browser's session cookie (PUT and DELETE too)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the local stack
        urllib.parse.urljoin(browser.base, path),
        data=data,
        method=method,
        headers={**SAME_ORIGIN, "Content-Type": "application/json", **(headers or {})},
    )
    try:
        with browser.opener.open(request, timeout=60) as response:
            raw = response.read()
            return (
                response.status,
                raw
                if response.headers.get_content_type() == "application/pdf"
                else json.loads(raw or b"null"),
            )
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def ops_token(stack: SystemStack) -> str:
    request = urllib.request.Request(  # noqa: S310 - the local stack
        stack.url("/oidc/token"),
        data=b"grant_type=client_credentials",
        headers={
            "Authorization": "Basic "
            + base64.b64encode(b"polis-ops:dev-only-polis-ops-client-secret").decode()
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())["access_token"]


def ops(stack: SystemStack, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - the service's own address (the edge refuses /ops/)
        stack.api("istanze", path),
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {ops_token(stack)}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            raw = response.read()
            return (
                response.status,
                raw.decode() if "csv" in response.headers.get_content_type() else json.loads(raw),
            )
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def text_of(message: EmailMessage) -> str:
    return "\n".join(p.get_content() for p in message.walk() if p.get_content_type() == "text/plain")


def attached_pdf(message: EmailMessage) -> bytes:
    part = next(p for p in message.walk() if p.get_content_type() == "application/pdf")
    return bytes(part.get_payload(decode=True))


def signed_in(stack: SystemStack, username: str, password: str) -> Browser:
    browser = Browser(stack.url())
    status, _, page = log_in(browser, username, password)
    assert status == 200, (browser.trail, page[:300])
    return browser


def test_submit_receipt_by_email_withdraw_resubmit_and_read_only_after_the_deadline(
    stack: SystemStack,
) -> None:
    username, password, address = MARIO
    user = signed_in(stack, username, password)
    # Enablement's demo data enables mario.rossi once IAM's fact of his account has reached it.
    wait_until(
        lambda: (user.api("/api/enablement/v1/enablement")[1] or {}).get("state") == "enabled",
        timeout=EMAIL_TIMEOUT,
    )
    assert call(user, "PUT", "/api/istanze/v1/profile", {"staff_category": "ata"})[0] == 200
    status, saved = call(user, "PUT", "/api/istanze/v1/contacts", CONTACTS)
    assert status == 200 and saved["contacts"]["mobile_phone"] == "+393331234567"
    bad = call(user, "PUT", "/api/istanze/v1/contacts", {**CONTACTS, "comune": "Atlantide"})
    assert bad[0] == 400 and "comune" in bad[1]["error"]["fields"]

    # The draft: a school not in the list and a tampered field are refused field by field, nothing saved.
    section = "/api/istanze/v1/applications/modello-d3/sections/sedi"
    refused = call(user, "PUT", section, {**ANSWERS, "schools": ["XXXX00000X"], "is_admin": True})
    assert refused[0] == 400 and set(refused[1]["error"]["fields"]) == {"schools", "is_admin"}
    assert call(user, "GET", "/api/istanze/v1/applications/modello-d3")[0] == 404
    assert call(user, "PUT", section, ANSWERS)[0] == 200
    assert call(user, "PUT", "/api/istanze/v1/applications/sconosciuta/sections/sedi", ANSWERS)[0] == 404

    submission = "/api/istanze/v1/applications/modello-d3/submission"
    wrong = call(user, "POST", submission, {"personal_code": "Sbagliato99", "key": uuid.uuid4().hex})
    assert wrong[0] == 403 and wrong[1]["error"]["code"] == "personal_code_wrong"
    assert call(user, "GET", "/api/istanze/v1/applications/modello-d3")[1]["state"] == "bozza"

    key = uuid.uuid4().hex
    status, first = call(user, "POST", submission, {"personal_code": PERSONAL_CODE, "key": key})
    assert status == 200, first
    again = call(user, "POST", submission, {"personal_code": PERSONAL_CODE, "key": key})  # a double click
    assert again == (200, first)
    number = first["protocol_number"]
    assert first["state"] == "inoltrata" and len(number) >= 7
    assert first["segnatura"].startswith("m_pi.AOODGPER.REGISTRO UFFICIALE.U.")

    # The receipt by email, attached: the same document as in the archive (its SHA-256), PDF/A-2b.
    [email] = stack.smtp.wait_for_email(address, subject="inoltrata", timeout=EMAIL_TIMEOUT)
    assert number in text_of(email)
    pdf = attached_pdf(email)
    status, archive = call(user, "GET", "/api/istanze/v1/archive")
    [entry] = archive["receipts"]
    assert hashlib.sha256(pdf).hexdigest() == entry["sha256"]
    status, downloaded = call(user, "GET", f"/api/istanze/v1/archive/{entry['id']}/receipt.pdf")
    assert status == 200 and downloaded == pdf
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    pdf_text = " ".join(page.extract_text() for page in reader.pages)
    for expected in (
        number,
        first["segnatura"],
        "Liceo scientifico Galileo Galilei",
        "+393331234567",
        "Roma",
    ):
        assert expected in pdf_text, expected
    assert reader.xmp_metadata is not None
    assert (reader.xmp_metadata.pdfaid_part, reader.xmp_metadata.pdfaid_conformance) == ("2", "B")

    # Withdraw (emailed), edit, submit again: a new number; the withdrawn receipt stays, marked.
    status, withdrawn = call(user, "DELETE", submission)
    assert status == 200 and withdrawn["withdrawn"]["protocol_number"] == number
    [notice] = stack.smtp.wait_for_email(address, subject="ritirata", timeout=EMAIL_TIMEOUT)
    assert number in text_of(notice)
    assert call(user, "PUT", section, {**ANSWERS, "schools": ["TOTF01000E"]})[0] == 200
    status, second = call(user, "POST", submission, {"personal_code": PERSONAL_CODE, "key": uuid.uuid4().hex})
    assert status == 200 and int(second["protocol_number"]) > int(number)
    stack.smtp.wait_for_email(address, 2, subject="inoltrata", timeout=EMAIL_TIMEOUT)
    states = {
        r["protocol_number"]: r["state"] for r in call(user, "GET", "/api/istanze/v1/archive")[1]["receipts"]
    }
    assert states == {number: "annullata", second["protocol_number"]: "inoltrata"}

    # The offices' export and counts (ops API at the service; the public edge refuses /ops/).
    assert call(user, "GET", "/api/istanze/v1/ops/procedures/modello-d3/counts")[0] == 404
    status, counts = ops(stack, "GET", "/api/istanze/v1/ops/procedures/modello-d3/counts")
    assert status == 200 and counts["counts"] == {"bozza": 0, "inoltrata": 1, "annullata": 1}
    status, exported = ops(stack, "GET", "/api/istanze/v1/ops/procedures/modello-d3/applications.csv")
    assert status == 200 and second["protocol_number"] in exported and "TOTF01000E" in exported

    # A window that closes a few seconds from now (Italian time): afterwards nothing can be done.
    rome = ZoneInfo("Europe/Rome")
    now = datetime.now(rome).replace(tzinfo=None, microsecond=0)
    closes = now + timedelta(seconds=20)
    status, defined = ops(
        stack,
        "POST",
        "/api/istanze/v1/ops/procedures",
        {
            "code": "scadenza-e2e",
            "title_it": "Procedura in scadenza",
            "title_en": "Closing procedure",
            "description_it": "",
            "description_en": "",
            "staff_categories": ["ata"],
            "opens_local": (now - timedelta(days=1)).isoformat(),
            "closes_local": closes.isoformat(),
            "form": {
                "sections": [
                    {"id": "sedi", "fields": [{"name": "dpr445", "type": "declaration", "required": True}]}
                ]
            },
        },
    )
    assert status == 201, defined
    assert (
        ops(
            stack,
            "POST",
            f"/api/istanze/v1/ops/procedures/scadenza-e2e/versions/{defined['version']}/publish",
        )[0]
        == 200
    )
    closing = "/api/istanze/v1/applications/scadenza-e2e"
    assert call(user, "PUT", f"{closing}/sections/sedi", {"dpr445": True})[0] == 200
    wait_until(lambda: datetime.now(rome).replace(tzinfo=None) >= closes + timedelta(seconds=1), timeout=60)
    late = call(
        user, "POST", f"{closing}/submission", {"personal_code": PERSONAL_CODE, "key": uuid.uuid4().hex}
    )
    assert late[0] == 403 and late[1]["error"]["code"] == "window_closed"
    assert (
        f"{closes:%d/%m/%Y %H:%M}" in late[1]["error"]["message"]
        and "ora italiana" in late[1]["error"]["message"]
    )
    assert (
        call(user, "PUT", f"{closing}/sections/sedi", {"dpr445": True})[1]["error"]["code"] == "window_closed"
    )
    assert call(user, "GET", closing)[1]["state"] == "bozza"
