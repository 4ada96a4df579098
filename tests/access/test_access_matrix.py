"""The access matrix (issue 17 item 4): every API operation x every principal, on one real stack.

The operations come from the four services' OpenAPI documents at test time: an operation without a row in
TABLE fails the test, and so does a row whose operation no document lists. The principals are in
access_principals.py (anonymous, user A, another user B, operators of office X and Y, a security officer,
the ops client, a partner client's token, and a token for another audience, expired, tampered and
alg=none, each derived from the token the row's allowed principal holds).

A row names the guard (what refuses whom, and with which status) and the principals whose cell works:
- public: everyone's cell works (the Authorization header plays no part: registration, recovery, links);
- bearer (polis.auth in enablement, istanze, notifier): no valid token for the service's audience -> 401,
  a valid one without the permission -> 403 (RFC 6750);
- iam_user (IAM's /me and security-officer API, D-ACC-7, D-ACC-2): no person's valid IAM token -> 401
  (a service token names no account), a person without the role -> 403;
- iam_ops (IAM's ops API): no valid IAM token -> 401, any other IAM token (a person's, a partner's, one for
  another API) -> 403 ops_role_required (RFC 6750 insufficient_scope: IAM issued it and knows it).
`expect` overrides a cell (cross-owner reads and writes are 404: B never learns A's resource exists) and
gives an allowed cell's business answer (a state the domain refuses, e.g. 409 for an enabled user asking to
be enabled). Allowed cells check their answer belongs to the caller (no cross-owner read), and the writes of
B leave A's data unchanged. A row's refused cells run before its allowed ones, with the same valid request,
so only the principal differs. Rows run in TABLE order: the order of A's life (enablement D-ENA-2..7, then
istanze D-IST-2..4, IAM's areas, ops); the "last" rows (credentials changed, keys rotated) run at the end,
after the expired column (the 60 s tokens minted first, polled until refused).

Every call goes where its caller would send it: public API paths through the gateway, the ops paths
(refused by the gateway: proxy.internal_only) to the service, and those are also sent through the gateway by
every principal: 404 there.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from access_principals import (
    OFFICE_X,
    OFFICE_Y,
    PASSWORD,
    PEOPLE,
    PRINCIPALS,
    Answer,
    Principals,
    link_token,
    make_principals,
    send,
    text_of,
)
from gateway.api.proxy import internal_only
from polis.testing.helpers import wait_until
from support import oidc_tokens, registration_flow
from support.stack import SystemStack

pytestmark = pytest.mark.slow

SERVICES = ("iam", "enablement", "istanze", "notifier")
UNAUTHENTICATED = frozenset({"anonymous", "partner", "other_audience", "expired", "tampered", "alg_none"})
EVERYONE = frozenset(PRINCIPALS)
PERSONS = frozenset(PEOPLE)
PERSONS_AND_OPS = PERSONS | {"ops"}
OPS = frozenset({"ops"})
OPERATORS = frozenset({"operator_x", "operator_y"})
NOT_ENABLED = ("operator_x", "operator_y", "security_officer")  # the people who never went to an office
PROCEDURE = "modello-d3"  # istanze's demo procedure for ATA staff (D-IST-1)
SCHOOLS = {
    "user": "RMPS01000A",
    "other": "MIIS00900T",
    "operator_x": "NAIC8CD00Q",
    "operator_y": "TOTF01000E",
    "security_officer": "RMIC8AB00X",
}
TEMPORARY = r"codice personale temporaneo è: (\S+)"
RECEIPT = r"/abilitazione/ricevuta\?token=([^\s\"'<>]+)"
RECOVERED = r"nuovo codice personale è: ([A-Za-z0-9]+)"  # the recovered-code email only (D-ENA-5)


@dataclass(frozen=True)
class Cell:
    status: int
    code: str | None = None  # the error code of a refusal, when it matters


@dataclass(frozen=True)
class Req:
    path: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Build = Callable[["Ctx", str], Req]
Check = Callable[["Ctx", str, Answer], None]


@dataclass(frozen=True)
class Row:
    op: str  # "METHOD /path/{template}" as the OpenAPI document spells it
    guard: str  # public, bearer, iam_user, iam_ops
    allow: frozenset[str]
    build: Build | None = None
    check: Check | None = None
    expect: dict[str, Cell] = field(default_factory=dict)
    phase: str = "main"

    @property
    def method(self) -> str:
        return self.op.split(" ", 1)[0]

    @property
    def template(self) -> str:
        return self.op.split(" ", 1)[1]

    @property
    def service(self) -> str:
        return self.template.split("/")[2]

    def base(self) -> str:
        """Whose token the derived principals (other audience, expired, tampered, none) start from."""
        for candidate in ("ops", "user", "security_officer", "operator_x"):
            if candidate in self.allow:
                return candidate
        return "user"

    def expected(self, principal: str, success: int) -> Cell:
        if principal in self.expect:
            return self.expect[principal]
        if principal in self.allow:
            return Cell(success)
        if self.guard == "bearer":
            return Cell(401 if principal in UNAUTHENTICATED else 403)
        if self.guard == "iam_user":
            return Cell(401 if principal in UNAUTHENTICATED | OPS else 403)
        if self.guard == "iam_ops":
            return Cell(401 if principal in UNAUTHENTICATED - {"partner", "other_audience"} else 403)
        raise AssertionError(f"{self.op}: {principal} refused by a public operation")


class Ctx:
    """The principals and what the rows leave for the later ones (A's request, receipt, ...)."""

    def __init__(self, stack: SystemStack, principals: Principals) -> None:
        self.stack = stack
        self.p = principals
        self.state: dict[str, Any] = {}
        self.suffix = uuid.uuid4().hex[:6]
        self.receipt_links: list[tuple[str, str]] = []  # (token, request number)

    def person(self, name: str) -> Any:
        """A person principal; for the others, A (their refused request is A's valid one)."""
        return self.p.people.get(name) or self.p.people["user"]

    def emails(self, address: str) -> int:
        return len(self.stack.smtp.emails_to(address))

    def text_after(self, address: str, seen: int, pattern: str) -> str:
        """The text of the first email to `address` after the first `seen` ones that matches `pattern`."""

        def found() -> str | None:
            for message in self.stack.smtp.emails_to(address)[seen:]:
                if re.search(pattern, text_of(message)):
                    return text_of(message)
            return None

        return str(wait_until(found, timeout=60.0))

    def live_email_link(self) -> str:
        """A live verification link of A's (D-ACC-7), asked for once."""
        if "live_email_link" not in self.state:
            address = f"pagina-{self.suffix}@example.org"
            url = self.stack.url("/api/iam/v1/me/email")
            asked = send(url, "POST", token=self.person("user").token, body={"email": address})
            assert asked.status == 202, asked
            self.state["live_email_link"] = link_token(
                self.stack, address, r"/iam/area-riservata/email/verifica/([A-Za-z0-9_.\-]+)"
            )
        return str(self.state["live_email_link"])

    def live_registration_link(self) -> str:
        """The confirmation link of a registration made once and never confirmed (D-ACC-3)."""
        if "live_registration_link" not in self.state:
            person = registration_flow.Person.new()
            address = f"conferma-{self.suffix}@example.org"
            status, answer = registration_flow.register(self.stack, address, person)
            assert status == 202, answer
            self.state["registrant_name"] = person.first_name
            self.state["live_registration_link"] = link_token(
                self.stack, address, r"/iam/registrazione/conferma/([A-Za-z0-9_.\-]+)"
            )
        return str(self.state["live_registration_link"])

    def receipt_link(self) -> tuple[str, str]:
        """A live link of an enablement email (D-ENA-2): one left by the matrix's requests, or a new
        helper's pending request (any holder of the link may use it: the link is the proof)."""
        if self.receipt_links:
            return self.receipt_links.pop()
        from test_enablement_e2e import create_account

        username = f"matrix.helper{uuid.uuid4().hex[:8]}"
        cf = registration_flow.Person.new().codice_fiscale
        create_account(self.stack, username, codice_fiscale=cf, password=PASSWORD)
        _, tokens = oidc_tokens.sign_in(self.stack, username, PASSWORD)
        token = tokens["access_token"]
        wait_until(
            lambda: (
                "personal_data"
                in (send(self.stack.url("/api/enablement/v1/enablement"), token=token).body or {})
            ),
            timeout=60.0,
        )
        started = send(
            self.stack.url("/api/enablement/v1/requests"),
            "POST",
            token=token,
            body={"codice_fiscale": cf, "data_confirmed": True},
        )
        assert started.status == 201, started
        link = link_token(self.stack, f"{username}@example.org", RECEIPT)
        return link, str(started.body["number"])


# --- builders and checks ------------------------------------------------------------------------------


def path(template: str, **values: str) -> Build:
    return lambda ctx, p: Req(template.format(**values))


def body(template: str, make: Callable[[Ctx, str], Any]) -> Build:
    return lambda ctx, p: Req(template, make(ctx, p))


def owns(ctx: Ctx, p: str, answer: Answer, *values: str) -> None:
    """The answer names the caller's data and nobody else's (no cross-owner read)."""
    text = answer.raw.decode(errors="replace")
    mine = ctx.person(p)
    for value in values or (mine.account_id,):
        assert value in text, (p, value, text[:300])
    for name, other in ctx.p.people.items():
        if name != p:
            assert other.account_id not in text and other.username not in text, (p, name, text[:300])


def own_identity(ctx: Ctx, p: str, answer: Answer) -> None:
    if p == "ops":
        assert answer.body["client_id"] == "polis-ops" and answer.body["kind"] == "service"
    else:
        owns(ctx, p, answer)


def own_enablement(ctx: Ctx, p: str, answer: Answer) -> None:
    assert answer.body["personal_data"]["username"] == ctx.person(p).username
    owns(ctx, p, answer, ctx.person(p).username)


def start_request(ctx: Ctx, p: str) -> Req:
    person = ctx.person(p)
    ctx.state[f"mails_{p}"] = ctx.emails(person.email)
    return Req(
        "/api/enablement/v1/requests", {"codice_fiscale": person.codice_fiscale, "data_confirmed": True}
    )


def started(ctx: Ctx, p: str, answer: Answer) -> None:
    person = ctx.person(p)
    assert answer.body["codice_fiscale"] == person.codice_fiscale
    mail = ctx.text_after(person.email, ctx.state[f"mails_{p}"], RECEIPT)
    link = re.search(RECEIPT, mail)
    assert link, mail[:500]
    token = urllib.parse.unquote(link.group(1))
    if p == "user":
        ctx.state["request_a"] = answer.body
        found = re.search(TEMPORARY, mail)
        assert found, mail[:500]
        ctx.state["temporary_a"] = found.group(1)
    ctx.receipt_links.append((token, str(answer.body["number"])))


def a_receipt_link(ctx: Ctx, p: str) -> Req:
    token, number = ctx.receipt_link()
    ctx.state[f"receipt_number_{p}"] = number
    return Req("/api/enablement/v1/receipt", {"token": token})


def receipt_confirmed(ctx: Ctx, p: str, answer: Answer) -> None:
    assert answer.body == {"status": "confirmed", "number": ctx.state[f"receipt_number_{p}"]}


def a_pdf(ctx: Ctx, p: str, answer: Answer) -> None:
    assert answer.raw.startswith(b"%PDF"), answer.raw[:100]


def offices_of(ctx: Ctx, p: str, answer: Answer) -> None:
    codes = [office["code"] for office in answer.body["offices"]]
    assert codes == [OFFICE_X if p == "operator_x" else OFFICE_Y], (p, codes)
    ctx.state[f"office_{p}"] = answer.body["offices"][0]["id"]


def find_a(ctx: Ctx, p: str) -> Req:
    return Req(f"/api/enablement/v1/operator/requests?number={ctx.state['request_a']['number']}")


def found_a(ctx: Ctx, p: str, answer: Answer) -> None:
    assert answer.body["id"] == ctx.state["request_a"]["id"]


def identification(ctx: Ctx, p: str) -> Req:
    document = {
        "office_id": ctx.state["office_operator_x"],  # the office of operator X: Y does not act for it
        "document_type": "carta_identita",
        "document_number": "CA00000AA",
        "document_issuer": "Comune di Roma",
        "document_issued_on": (date.today() - timedelta(days=900)).isoformat(),
        "document_expires_on": (date.today() + timedelta(days=900)).isoformat(),
        "form_signed": True,
    }
    return Req(f"/api/enablement/v1/operator/requests/{ctx.state['request_a']['id']}/confirm", document)


def rejection(ctx: Ctx, p: str) -> Req:
    if "request_giulia" not in ctx.state:  # the demo data's pending request (giulia.bianchi)
        found = send(
            ctx.stack.url("/api/enablement/v1/operator/requests?number=ENA-DEMO-0002"),
            token=ctx.person("operator_x").token,
        )
        assert found.status == 200, found
        ctx.state["request_giulia"] = found.body["id"]
    return Req(
        f"/api/enablement/v1/operator/requests/{ctx.state['request_giulia']}/reject",
        {"office_id": ctx.state["office_operator_x"], "reason": "Documento illeggibile"},
    )


def code_change(ctx: Ctx, p: str) -> Req:
    person = ctx.person(p)
    current = ctx.state["temporary_a"] if p == "user" else person.personal_code or "Qualsiasi2026"
    new = f"Matrice{uuid.uuid4().hex[:6]}9"
    ctx.state[f"new_code_{p}"] = new
    return Req("/api/enablement/v1/personal-code/change", {"current_code": current, "new_code": new})


def code_changed(ctx: Ctx, p: str, answer: Answer) -> None:
    ctx.person(p).personal_code = ctx.state[f"new_code_{p}"]


def code_recovery(ctx: Ctx, p: str) -> Req:
    person = ctx.person(p)
    ctx.state[f"mails_{p}"] = ctx.emails(person.email)
    return Req(
        "/api/enablement/v1/personal-code/recover",
        {"codice_fiscale": person.codice_fiscale, "security_answer": person.security_answer},
    )


def code_recovered(ctx: Ctx, p: str, answer: Answer) -> None:
    person = ctx.person(p)
    mail = ctx.text_after(person.email, ctx.state[f"mails_{p}"], RECOVERED)
    found = re.search(RECOVERED, mail)
    assert found, mail[:500]
    person.personal_code = found.group(1)


def new_office(ctx: Ctx, p: str) -> Any:
    return {
        "code": f"MTX{ctx.suffix.upper()}",
        "kind": "school",
        "name": "Scuola della matrice",
        "address": "Via Matrice 1, Roma",
    }


def assignment(ctx: Ctx, p: str) -> Any:
    return {"operator_id": ctx.person("operator_y").account_id, "office_code": f"MTX{ctx.suffix.upper()}"}


def unassignment(ctx: Ctx, p: str) -> Req:
    operator = ctx.person("operator_y").account_id
    return Req(f"/api/enablement/v1/ops/operators/{operator}/offices/MTX{ctx.suffix.upper()}")


def identifications(ctx: Ctx, p: str, answer: Answer) -> None:
    assert ctx.state["request_a"]["number"] in answer.raw.decode()


def contacts_of(ctx: Ctx, p: str) -> Any:
    return {
        "mobile_phone": "333 123 4567",
        "address": f"Via {p.replace('_', ' ').title()} 12",
        "postal_code": "00153",
        "nation": "Italia",
        "province": "RM",
        "comune": "Roma",
    }


def own_contacts(ctx: Ctx, p: str, answer: Answer) -> None:
    text = answer.raw.decode()
    for name in PEOPLE:
        marker = contacts_of(ctx, name)["address"]
        assert (marker in text) == (name == p), (p, name, text[:300])


def draft(ctx: Ctx, p: str) -> Req:
    return Req(
        f"/api/istanze/v1/applications/{PROCEDURE}/sections/sedi",
        {"schools": [SCHOOLS.get(p, SCHOOLS["user"])], "dichiarazione_veridicita": True},
    )


def own_draft(ctx: Ctx, p: str, answer: Answer) -> None:
    text = answer.raw.decode()
    for name, school in SCHOOLS.items():
        assert (school in text) == (name == p), (p, name, text[:300])


def submission(ctx: Ctx, p: str) -> Req:
    code = ctx.person(p).personal_code or "Qualsiasi2026"
    return Req(
        f"/api/istanze/v1/applications/{PROCEDURE}/submission",
        {"personal_code": code, "key": uuid.uuid4().hex},
    )


def submitted(ctx: Ctx, p: str, answer: Answer) -> None:
    if answer.status == 200:
        assert answer.body["state"] == "inoltrata"
        ctx.state[f"protocol_{p}"] = answer.body["protocol_number"]


def archive_of(ctx: Ctx, p: str, answer: Answer) -> None:
    numbers = {r["protocol_number"] for r in answer.body["receipts"]}
    mine = {ctx.state[f"protocol_{p}"]} if f"protocol_{p}" in ctx.state else set()
    assert numbers == mine, (p, numbers, mine)
    if p == "user":
        ctx.state["receipt_a"] = answer.body["receipts"][0]["id"]


def receipt_a(ctx: Ctx, p: str) -> Req:
    """A's receipt, once filed (its document is rendered after the submission's answer: D-IST-3)."""
    if "receipt_a_filename" not in ctx.state:
        url = ctx.stack.url("/api/istanze/v1/archive")

        def filed() -> Any:
            receipts = send(url, token=ctx.person("user").token).body["receipts"]
            return next((r for r in receipts if r["id"] == ctx.state["receipt_a"] and r["sha256"]), None)

        ctx.state["receipt_a_filename"] = None  # waited for once: the other cells fail at once
        ctx.state["receipt_a_filename"] = wait_until(filed, timeout=60.0, interval=0.5)["filename"]
    assert ctx.state["receipt_a_filename"], "A's receipt was never filed (D-IST-3)"
    return Req(f"/api/istanze/v1/archive/{ctx.state['receipt_a']}/receipt.pdf")


def new_procedure(ctx: Ctx, p: str) -> Any:
    return {
        "code": f"matrice-{ctx.suffix}",
        "title_it": "Procedura della matrice",
        "title_en": "Matrix procedure",
        "description_it": "",
        "description_en": "",
        "staff_categories": ["ata"],
        "opens_local": "2026-01-01T08:00:00",
        "closes_local": "2036-01-01T14:00:00",
        "form": {
            "sections": [{"id": "s", "fields": [{"name": "d", "type": "declaration", "required": True}]}]
        },
    }


def defined(ctx: Ctx, p: str, answer: Answer) -> None:
    ctx.state["procedure_version"] = answer.body["version"]


def publication(ctx: Ctx, p: str) -> Req:
    version = ctx.state["procedure_version"]
    return Req(f"/api/istanze/v1/ops/procedures/matrice-{ctx.suffix}/versions/{version}/publish")


def registration(ctx: Ctx, p: str) -> Req:
    person = registration_flow.Person.new()
    ctx.state[f"registrant_{p}"] = person
    return Req(
        "/api/iam/v1/registrations",
        {
            "codice_fiscale": person.codice_fiscale,
            "captcha": registration_flow.solved_captcha(ctx.stack),
            "language": "it",
        },
    )


def registration_started(ctx: Ctx, p: str, answer: Answer) -> None:
    ctx.state[f"registration_{p}"] = answer.body["token"]


def registration_step(step: str, make: Callable[[Ctx, str], Any] | None) -> Build:
    def build(ctx: Ctx, p: str) -> Req:
        headers = {"X-Registration-Token": ctx.state[f"registration_{p}"]}
        return Req(f"/api/iam/v1/registrations/current{step}", make(ctx, p) if make else None, headers)

    return build


def personal_data(ctx: Ctx, p: str) -> Any:
    person = ctx.state[f"registrant_{p}"]
    return {
        "last_name": person.last_name,
        "first_name": person.first_name,
        "birth_date": person.birth_date,
        "sex": person.sex,
        "birth_place": person.birth_place,
    }


def registrant_email(ctx: Ctx, p: str) -> str:
    return f"registrant-{p.replace('_', '-')}-{ctx.suffix}@example.org"


def confirmation_link(ctx: Ctx, p: str) -> str:
    return link_token(ctx.stack, registrant_email(ctx, p), r"/iam/registrazione/conferma/([A-Za-z0-9_.\-]+)")


def captcha_body(make: Callable[[Ctx], dict[str, Any]]) -> Callable[[Ctx, str], Any]:
    return lambda ctx, p: {**make(ctx), "captcha": registration_flow.solved_captcha(ctx.stack)}


def email_change(ctx: Ctx, p: str) -> Any:
    return {"email": f"nuova-{p.replace('_', '-')}-{ctx.suffix}@example.org"}


def email_verification(ctx: Ctx, p: str) -> Req:
    """A's live verification link (D-ACC-7), asked for now: whoever holds the link may use it."""
    address = f"verifica-{p.replace('_', '-')}-{ctx.suffix}@example.org"
    asked = send(
        ctx.stack.url("/api/iam/v1/me/email"), "POST", token=ctx.person("user").token, body={"email": address}
    )
    assert asked.status == 202, asked
    ctx.state[f"verified_{p}"] = address
    token = link_token(ctx.stack, address, r"/iam/area-riservata/email/verifica/([A-Za-z0-9_.\-]+)")
    return Req("/api/iam/v1/me/email/verify", {"token": token})


def email_verified(ctx: Ctx, p: str, answer: Answer) -> None:
    assert answer.body["personal_email"] == ctx.state[f"verified_{p}"]
    assert answer.body["id"] == ctx.person("user").account_id


def officer_search(ctx: Ctx, p: str) -> Req:
    return Req("/api/iam/v1/security-officer/mi-accounts?q=sara.conti")


def found_sara(ctx: Ctx, p: str, answer: Answer) -> None:
    [account] = answer.body["accounts"]
    assert account["username"] == "sara.conti"
    ctx.state["sara"] = account["id"]


def officer_reset(ctx: Ctx, p: str) -> Req:
    return Req(f"/api/iam/v1/security-officer/mi-accounts/{ctx.state['sara']}/password-reset", {})


def unlock(ctx: Ctx, p: str) -> Req:
    return Req(f"/api/iam/v1/ops/accounts/{ctx.person('other').account_id}/unlock", {})


def mi_import(ctx: Ctx, p: str) -> Any:
    person = registration_flow.Person.new()
    return {
        "csv": "codice_fiscale,first_name,last_name,institutional_email\n"
        f"{person.codice_fiscale},{person.first_name},{person.last_name},"
        f"{person.first_name.lower()}.{ctx.suffix}@istruzione.it\n"
    }


def client_put(ctx: Ctx, p: str) -> Req:
    return Req(
        "/api/iam/v1/ops/oidc-clients/matrix-put",
        {
            "name": "Access matrix PUT",
            "trusted": False,
            "grant_types": ["client_credentials"],
            "scopes": ["iam"],
        },
    )


def round_create(ctx: Ctx, p: str) -> Any:
    # Unused since 2001: nobody is affected (every account was created this year, D-REV-5).
    return {"cutoff": "2001-01-01", "deadline": "2040-01-01T12:00"}


def round_created(ctx: Ctx, p: str, answer: Answer) -> None:
    ctx.state["round"] = answer.body["id"]


def a_round(suffix: str = "", body_: Any = None) -> Build:
    return lambda ctx, p: Req(f"/api/iam/v1/ops/revocation-rounds/{ctx.state['round']}{suffix}", body_)


def failed_deliveries(ctx: Ctx, p: str) -> Req:
    """Once: an email the SMTP server refuses for good (550), so the delivery log holds a failed delivery
    for the resend row (the notifier marks it failed: a permanent refusal is not retried)."""
    if "failed_delivery" not in ctx.state:
        stack_query = "/api/notifier/v1/deliveries?state=failed"
        ctx.stack.smtp.set_reply(550)
        try:
            address = f"rifiutata-{ctx.suffix}@example.org"
            asked = send(
                ctx.stack.url("/api/iam/v1/me/email"),
                "POST",
                token=ctx.person("user").token,
                body={"email": address},
            )
            assert asked.status == 202, asked
            url = ctx.stack.api("notifier", stack_query)
            ctx.state["failed_delivery"] = wait_until(
                lambda: (send(url, token=ctx.p.ops_token).body or {}).get("items"), timeout=60.0
            )[0]["id"]
        finally:
            ctx.stack.smtp.set_reply(None)
    return Req("/api/notifier/v1/deliveries?state=failed")


def deliveries(ctx: Ctx, p: str, answer: Answer) -> None:
    assert ctx.state["failed_delivery"] in {item["id"] for item in answer.body["items"]}


def resend(ctx: Ctx, p: str) -> Req:
    return Req(f"/api/notifier/v1/deliveries/{ctx.state['failed_delivery']}/resend", {})


def regenerated(ctx: Ctx, p: str, answer: Answer) -> None:
    assert answer.body["state"] == "pending"


def password_change(ctx: Ctx, p: str) -> Any:
    return {"current_password": ctx.person(p).password, "new_password": "nuova frase segreta della matrice"}


def not_a(ctx: Ctx, p: str, answer: Answer) -> None:
    """B's own answer: nothing of A's in it."""
    owns(ctx, p, answer)


# --- the table ----------------------------------------------------------------------------------------

OWN = {name: Cell(404) for name in ("other", "operator_x", "operator_y", "security_officer")}  # A's only
BUSINESS_NOT_ENABLED = {name: Cell(409) for name in NOT_ENABLED}

TABLE: list[Row] = [
    # enablement (D-ENA-*): A asks, an operator of office X identifies A, A changes and recovers the code
    Row("GET /api/enablement/v1/", "public", EVERYONE),
    Row("GET /api/enablement/v1/me", "bearer", PERSONS_AND_OPS, check=own_identity),
    Row("GET /api/enablement/v1/enablement", "bearer", PERSONS, check=own_enablement),
    Row(
        "POST /api/enablement/v1/requests",
        "bearer",
        PERSONS,
        start_request,
        started,
        {"other": Cell(409)},  # B is enabled already (D-ENA-1)
    ),
    Row(
        "GET /api/enablement/v1/requests/current/form.pdf",
        "bearer",
        PERSONS,
        check=a_pdf,
        expect={"other": Cell(404)},  # B has no pending request
    ),
    Row("POST /api/enablement/v1/receipt", "public", EVERYONE, a_receipt_link, receipt_confirmed),
    Row("GET /api/enablement/v1/operator/offices", "bearer", OPERATORS, check=offices_of),
    Row("GET /api/enablement/v1/operator/requests", "bearer", OPERATORS, find_a, found_a),
    Row(
        "POST /api/enablement/v1/operator/requests/{request_id}/confirm",
        "bearer",
        frozenset({"operator_x"}),
        identification,
        expect={"operator_y": Cell(403)},  # D-ENA-10: Y never acts for office X
    ),
    Row(
        "POST /api/enablement/v1/operator/requests/{request_id}/reject",
        "bearer",
        frozenset({"operator_x"}),
        rejection,
        expect={"operator_y": Cell(403)},
    ),
    Row(
        "POST /api/enablement/v1/personal-code/change",
        "bearer",
        PERSONS,
        code_change,
        code_changed,
        BUSINESS_NOT_ENABLED,
    ),
    Row(
        "POST /api/enablement/v1/personal-code/recover",
        "bearer",
        PERSONS,
        code_recovery,
        code_recovered,
        BUSINESS_NOT_ENABLED,
    ),
    Row(
        "POST /api/enablement/v1/ops/offices",
        "bearer",
        OPS,
        body("/api/enablement/v1/ops/offices", new_office),
    ),
    Row(
        "POST /api/enablement/v1/ops/operators",
        "bearer",
        OPS,
        body("/api/enablement/v1/ops/operators", assignment),
    ),
    Row(
        "DELETE /api/enablement/v1/ops/operators/{operator_id}/offices/{office_code}",
        "bearer",
        OPS,
        unassignment,
    ),
    Row("GET /api/enablement/v1/ops/identifications", "bearer", OPS, check=identifications),
    # istanze (D-IST-*): each person drafts their own application; A and B submit; A's receipt is A's
    Row("GET /api/istanze/v1/", "public", EVERYONE),
    Row("GET /api/istanze/v1/me", "bearer", PERSONS_AND_OPS, check=own_identity),
    Row(
        "PUT /api/istanze/v1/profile",
        "bearer",
        PERSONS,
        body("/api/istanze/v1/profile", lambda c, p: {"staff_category": "ata"}),
    ),
    Row("GET /api/istanze/v1/procedures/open", "bearer", PERSONS),
    Row(
        "PUT /api/istanze/v1/contacts",
        "bearer",
        PERSONS,
        body("/api/istanze/v1/contacts", contacts_of),
        own_contacts,
    ),
    Row("GET /api/istanze/v1/contacts", "bearer", PERSONS, check=own_contacts),
    Row("GET /api/istanze/v1/contacts/history", "bearer", PERSONS, check=own_contacts),
    Row("PUT /api/istanze/v1/applications/{code}/sections/{section}", "bearer", PERSONS, draft, own_draft),
    Row("GET /api/istanze/v1/applications", "bearer", PERSONS, check=own_draft),
    Row(
        "GET /api/istanze/v1/applications/{code}",
        "bearer",
        PERSONS,
        path(f"/api/istanze/v1/applications/{PROCEDURE}"),
        own_draft,
    ),
    Row(
        "POST /api/istanze/v1/applications/{code}/submission",
        "bearer",
        PERSONS,
        submission,
        submitted,
        {name: Cell(403, "personal_code_not_enabled") for name in NOT_ENABLED},  # D-IST-2: enabled only
    ),
    Row("GET /api/istanze/v1/archive", "bearer", PERSONS, check=archive_of),
    Row(
        "GET /api/istanze/v1/archive/{receipt_id}/receipt.pdf",
        "bearer",
        frozenset({"user"}),
        receipt_a,
        a_pdf,
        OWN,
    ),
    Row(
        "DELETE /api/istanze/v1/applications/{code}/submission",
        "bearer",
        PERSONS,
        path(f"/api/istanze/v1/applications/{PROCEDURE}/submission"),
        expect={name: Cell(403, "not_submitted") for name in NOT_ENABLED},  # nothing to withdraw
    ),
    Row(
        "POST /api/istanze/v1/ops/procedures",
        "bearer",
        OPS,
        body("/api/istanze/v1/ops/procedures", new_procedure),
        defined,
    ),
    Row("GET /api/istanze/v1/ops/procedures", "bearer", OPS),
    Row("POST /api/istanze/v1/ops/procedures/{code}/versions/{version}/publish", "bearer", OPS, publication),
    Row(
        "GET /api/istanze/v1/ops/procedures/{code}/counts",
        "bearer",
        OPS,
        path(f"/api/istanze/v1/ops/procedures/{PROCEDURE}/counts"),
    ),
    Row(
        "GET /api/istanze/v1/ops/procedures/{code}/applications.csv",
        "bearer",
        OPS,
        path(f"/api/istanze/v1/ops/procedures/{PROCEDURE}/applications.csv"),
    ),
    Row(
        "GET /api/istanze/v1/ops/procedures/{code}/applications.json",
        "bearer",
        OPS,
        path(f"/api/istanze/v1/ops/procedures/{PROCEDURE}/applications.json"),
    ),
    # IAM: registration and recovery are public (D-ACC-3, D-ACC-5, D-ACC-6); everyone registers a person
    Row("GET /api/iam/v1/", "public", EVERYONE),
    Row("GET /api/iam/v1/captcha/challenge", "public", EVERYONE),
    Row("POST /api/iam/v1/registrations", "public", EVERYONE, registration, registration_started),
    Row("GET /api/iam/v1/registrations/current", "public", EVERYONE, registration_step("", None)),
    Row(
        "PUT /api/iam/v1/registrations/current/personal-data",
        "public",
        EVERYONE,
        registration_step("/personal-data", personal_data),
    ),
    Row(
        "PUT /api/iam/v1/registrations/current/contacts",
        "public",
        EVERYONE,
        registration_step("/contacts", lambda c, p: {"personal_email": registrant_email(c, p)}),
    ),
    Row(
        "PUT /api/iam/v1/registrations/current/security-question",
        "public",
        EVERYONE,
        registration_step(
            "/security-question", lambda c, p: {"question": "La mia prima opera?", "answer": "Oberto"}
        ),
    ),
    Row(
        "POST /api/iam/v1/registrations/current/submit",
        "public",
        EVERYONE,
        registration_step("/submit", lambda c, p: {"consent": True}),
    ),
    Row(
        "POST /api/iam/v1/registrations/links/check",
        "public",
        EVERYONE,
        lambda c, p: Req("/api/iam/v1/registrations/links/check", {"token": confirmation_link(c, p)}),
    ),
    Row(
        "POST /api/iam/v1/registrations/activation",
        "public",
        EVERYONE,
        lambda c, p: Req(
            "/api/iam/v1/registrations/activation", {"token": confirmation_link(c, p), "password": PASSWORD}
        ),
    ),
    Row(
        "POST /api/iam/v1/recovery/username",
        "public",
        EVERYONE,
        body(
            "/api/iam/v1/recovery/username",
            captcha_body(lambda c: {"codice_fiscale": registration_flow.Person.new().codice_fiscale}),
        ),
    ),
    Row(
        "POST /api/iam/v1/recovery/password",
        "public",
        EVERYONE,
        body(
            "/api/iam/v1/recovery/password",
            captcha_body(
                lambda c: {
                    "username": "nessuno.matrice",
                    "codice_fiscale": registration_flow.Person.new().codice_fiscale,
                }
            ),
        ),
    ),
    # IAM's Area Riservata (D-ACC-7): each person acts on their own account only
    Row("GET /api/iam/v1/me", "iam_user", PERSONS, check=not_a),
    Row(
        "PATCH /api/iam/v1/me",
        "iam_user",
        PERSONS,
        body("/api/iam/v1/me", lambda c, p: {"language": "it"}),
        not_a,
    ),
    Row("POST /api/iam/v1/me/email", "iam_user", PERSONS, body("/api/iam/v1/me/email", email_change)),
    Row("POST /api/iam/v1/me/email/verify", "public", EVERYONE, email_verification, email_verified),
    # the security officer (D-ACC-2): MI accounts only, audited
    Row(
        "GET /api/iam/v1/security-officer/mi-accounts",
        "iam_user",
        frozenset({"security_officer"}),
        officer_search,
        found_sara,
    ),
    Row(
        "POST /api/iam/v1/security-officer/mi-accounts/{account_id}/password-reset",
        "iam_user",
        frozenset({"security_officer"}),
        officer_reset,
    ),
    # IAM's ops API
    Row("POST /api/iam/v1/ops/accounts/{account_id}/unlock", "iam_ops", OPS, unlock),
    Row("GET /api/iam/v1/ops/audit", "iam_ops", OPS),
    Row(
        "POST /api/iam/v1/ops/mi-accounts/import",
        "iam_ops",
        OPS,
        body("/api/iam/v1/ops/mi-accounts/import", mi_import),
    ),
    Row("GET /api/iam/v1/ops/oidc-clients", "iam_ops", OPS),
    Row(
        "GET /api/iam/v1/ops/oidc-clients/{client_id}",
        "iam_ops",
        OPS,
        path("/api/iam/v1/ops/oidc-clients/matrix-audience"),
    ),
    Row(
        "PUT /api/iam/v1/ops/oidc-clients/{client_id}",
        "iam_ops",
        OPS,
        client_put,
        expect={"ops": Cell(201)},  # a new client (an update answers 200)
    ),
    Row(
        "POST /api/iam/v1/ops/oidc-clients/{client_id}/secret",
        "iam_ops",
        OPS,
        lambda c, p: Req("/api/iam/v1/ops/oidc-clients/matrix-put/secret", {}),
    ),
    Row("GET /api/iam/v1/ops/oidc-keys", "iam_ops", OPS),
    Row(
        "POST /api/iam/v1/ops/revocation-rounds",
        "iam_ops",
        OPS,
        body("/api/iam/v1/ops/revocation-rounds", round_create),
        round_created,
    ),
    Row("GET /api/iam/v1/ops/revocation-rounds", "iam_ops", OPS),
    Row("GET /api/iam/v1/ops/revocation-rounds/{round_id}", "iam_ops", OPS, a_round()),
    Row("POST /api/iam/v1/ops/revocation-rounds/{round_id}/preview", "iam_ops", OPS, a_round("/preview", {})),
    Row("GET /api/iam/v1/ops/revocation-rounds/{round_id}/audit", "iam_ops", OPS, a_round("/audit")),
    Row(
        "POST /api/iam/v1/ops/revocation-rounds/{round_id}/announce", "iam_ops", OPS, a_round("/announce", {})
    ),
    Row("POST /api/iam/v1/ops/revocation-rounds/{round_id}/cancel", "iam_ops", OPS, a_round("/cancel", {})),
    # the notifier: operations only; a person's token has no notifier audience (401)
    Row("GET /api/notifier/v1/", "public", EVERYONE),
    Row("GET /api/notifier/v1/me", "bearer", OPS, check=own_identity, expect={n: Cell(401) for n in PEOPLE}),
    Row(
        "GET /api/notifier/v1/deliveries",
        "bearer",
        OPS,
        failed_deliveries,
        deliveries,
        expect={n: Cell(401) for n in PEOPLE},
    ),
    Row(
        "POST /api/notifier/v1/deliveries/{delivery_id}/resend",
        "bearer",
        OPS,
        resend,
        expect={n: Cell(401) for n in PEOPLE},
    ),
    # last: what changes credentials or keys (after the expired column)
    Row(
        "POST /api/enablement/v1/personal-code/regenerate",
        "bearer",
        PERSONS,
        body("/api/enablement/v1/personal-code/regenerate", lambda c, p: {"confirm": True}),
        regenerated,
        BUSINESS_NOT_ENABLED,
        phase="last",
    ),
    Row(
        "POST /api/iam/v1/ops/oidc-keys/rotate",
        "iam_ops",
        OPS,
        body("/api/iam/v1/ops/oidc-keys/rotate", lambda c, p: {}),
        phase="last",
    ),
    Row(
        "POST /api/iam/v1/me/password",
        "iam_user",
        PERSONS,
        body("/api/iam/v1/me/password", password_change),
        phase="last",
    ),
]


# --- the pages ----------------------------------------------------------------------------------------
# Every page rule of IAM, enablement, istanze and the gateway (read from their URL maps at test time) has a
# row or a reason in NOT_PAGES. People browse with their portal session (IAM's pages: IAM's single sign-on
# cookie; the services' pages: the session's token, attached by the gateway); the token principals send
# their token as `Authorization: Bearer` from a browser without a session (the gateway passes it on to a
# service's page). GET cells render the page (200, the owner's data) or refuse: the portal's login (303 to
# /accedi: polis.ui.pages.page_permission), IAM's login (302 to /iam/accedi: login_required) or 403.
# Forms (POST) are refused to everyone the GET refuses, with a CSRF token of the caller's own session, so
# only the principal differs; the allowed forms are driven by the browser tests (tests/test_browser_*.py).

LOGIN = Cell(303, "/accedi?next=")  # the portal's login, coming back here
IAM_LOGIN = Cell(302, "/iam/accedi")
SESSIONLESS = frozenset(PRINCIPALS) - PERSONS


@dataclass(frozen=True)
class Page:
    rule: str  # the URL rule, as the app's url_map spells it
    service: str  # iam, enablement, istanze, gateway
    guard: str  # public, iam_session, service
    allow: frozenset[str]
    get: Callable[[Ctx], str] | None = None  # the path to ask for (default: the rule)
    expect: dict[str, Cell] = field(default_factory=dict)
    success: Cell = Cell(200)
    check: Callable[[Ctx, str, Answer], None] | None = None
    methods: tuple[str, ...] = ("GET",)
    # The allowed POST cells: the form a person sends, what it answers and what it must have changed.
    form: Callable[[Ctx, str], dict[str, str]] | None = None
    posted: Cell = Cell(303)
    effect: Callable[[Ctx, str], None] | None = None

    def base(self) -> str:
        for candidate in ("ops", "user", "security_officer", "operator_x"):
            if candidate in self.allow:
                return candidate
        return "user"

    def expected(self, principal: str) -> Cell:
        if principal in self.expect:
            return self.expect[principal]
        if principal in self.allow:
            return self.success
        if self.guard == "iam_session":  # IAM's own cookie: a token is no session
            return IAM_LOGIN if principal in SESSIONLESS else Cell(403)
        if self.guard == "service":
            return LOGIN if principal in UNAUTHENTICATED else Cell(403)
        raise AssertionError(f"{self.rule}: {principal} refused by a public page")


def owner_page(ctx: Ctx, p: str, answer: Answer) -> None:
    """The page names its viewer (the account menu, personal data) and no other person."""
    text = answer.raw.decode(errors="replace")
    me = ctx.person(p)
    for name, other in ctx.p.people.items():
        if name != p:
            assert other.username not in text and other.codice_fiscale not in text, (p, name)
    shown = (me.username, me.codice_fiscale, me.account_id, me.full_name, html.escape(me.full_name))
    assert any(value in text for value in shown), (p, me.full_name, text[:300])


def page_contacts(ctx: Ctx, p: str) -> dict[str, str]:
    return {**contacts_of(ctx, p), "address": f"Piazza {p.replace('_', ' ').title()} 3"}


def own_page_contacts(ctx: Ctx, p: str) -> None:
    """Each person's form changed their own contacts only (D-IST-4): read back through the API."""
    for name in PEOPLE:
        mine = send(ctx.stack.url("/api/istanze/v1/contacts"), token=ctx.person(name).token).raw.decode()
        for other in PEOPLE:
            marker = page_contacts(ctx, other)["address"]
            if marker in mine:
                assert other == name, (p, name, other)


def category_declared(ctx: Ctx, p: str) -> None:
    me = send(ctx.stack.url("/api/istanze/v1/procedures/open"), token=ctx.person(p).token)
    assert me.status == 200 and PROCEDURE in me.raw.decode(), (p, me.status)


def receipt_page(ctx: Ctx) -> str:
    return f"/istanze/archivio/{ctx.state['receipt_a']}/{ctx.state['receipt_a_filename']}"


ENABLED = ("user", "other")  # A (after the office, D-ENA-3) and B
PAGES: list[Page] = [
    # the gateway's own pages; "Accedi" sends to IAM's authorization endpoint, or on to D-ENA-1 when signed in
    Page("/", "gateway", "public", EVERYONE),
    Page("/privacy", "gateway", "public", EVERYONE),
    Page(
        "/accedi",
        "gateway",
        "public",
        EVERYONE,
        expect={n: Cell(303, "/abilitazione/") for n in PEOPLE},
        success=Cell(303, "/oidc/authorize?"),
    ),
    Page(
        "/area-personale",
        "gateway",
        "service",
        PERSONS,
        expect={n: Cell(302, "/accedi?next=/area-personale") for n in SESSIONLESS},
        check=owner_page,
    ),
    Page("/esci", "gateway", "public", EVERYONE, expect={n: Cell(303, "/") for n in SESSIONLESS}),
    Page("/lingua/<code>", "gateway", "public", EVERYONE, lambda c: "/lingua/en?next=/", success=Cell(303)),
    Page("/sicurezza/verifica", "gateway", "public", EVERYONE),
    # IAM's pages: login, registration, recovery (public); the Area Riservata (IAM's session, D-ACC-7)
    Page("/iam/", "iam", "public", EVERYONE),  # was a 308 to the discovery document: fixed in the gateway
    Page("/iam/accedi", "iam", "public", EVERYONE),
    Page(  # a made-up unlock link: refused to everyone alike (the real one: test_login_unlock_e2e)
        "/iam/accedi/sblocca/<token>",
        "iam",
        "public",
        EVERYONE,
        lambda c: "/iam/accedi/sblocca/" + "x" * 43,
        success=Cell(400),
    ),
    Page(  # the forced change (D-ACC-4): nobody here has a temporary password: on to the Area Riservata
        "/iam/cambio-password",
        "iam",
        "iam_session",
        PERSONS,
        success=Cell(302, "/iam/area-riservata"),
    ),
    Page("/iam/password-dimenticata", "iam", "public", EVERYONE),
    Page("/iam/recupero-username", "iam", "public", EVERYONE),
    Page("/iam/registrazione", "iam", "public", EVERYONE, success=Cell(302, "/iam/registrazione/step1")),
    Page("/iam/registrazione/", "iam", "public", EVERYONE, success=Cell(302, "/iam/registrazione/step1")),
    Page("/iam/registrazione/inviata", "iam", "public", EVERYONE),
    Page(  # a live link of a registration never confirmed: its page, to whoever holds it (GET keeps it)
        "/iam/registrazione/conferma/<token>",
        "iam",
        "public",
        EVERYONE,
        lambda c: "/iam/registrazione/conferma/" + c.live_registration_link(),
        check=lambda c, p, a: None if c.state["registrant_name"] in a.raw.decode() else 1 / 0,
    ),
    Page("/iam/registrazione/step1", "iam", "public", EVERYONE),
    # the later steps need the registration's own cookie (D-ACC-3): back to step 1 without it
    Page(
        "/iam/registrazione/step2", "iam", "public", EVERYONE, success=Cell(302, "/iam/registrazione/step1")
    ),
    Page(
        "/iam/registrazione/step3", "iam", "public", EVERYONE, success=Cell(302, "/iam/registrazione/step1")
    ),
    Page(
        "/iam/registrazione/step4", "iam", "public", EVERYONE, success=Cell(302, "/iam/registrazione/step1")
    ),
    Page(
        "/iam/registrazione/step5", "iam", "public", EVERYONE, success=Cell(302, "/iam/registrazione/step1")
    ),
    Page("/iam/area-riservata", "iam", "iam_session", PERSONS, check=owner_page),
    Page("/iam/area-riservata/email", "iam", "iam_session", PERSONS),
    Page(  # A's live verification link (D-ACC-7): the link is the proof, its page answers whoever holds it
        "/iam/area-riservata/email/verifica/<token>",
        "iam",
        "public",
        EVERYONE,
        lambda c: "/iam/area-riservata/email/verifica/" + c.live_email_link(),
    ),
    Page(
        "/iam/area-riservata/lingua",
        "iam",
        "iam_session",
        PERSONS,
        methods=("POST",),
        form=lambda c, p: {"language": "it"},
        posted=Cell(303, "/lingua/it?next=%2Fiam%2Farea-riservata"),  # the portal follows the language too
    ),
    Page("/iam/area-riservata/password", "iam", "iam_session", PERSONS),
    # the revocation rounds' page is for people with the ops role on their account: none of the twelve
    # (test_revocation_e2e signs one in); every person here is refused
    Page("/iam/area-riservata/revoche", "iam", "iam_session", frozenset()),
    Page("/iam/area-riservata/sicurezza", "iam", "iam_session", frozenset({"security_officer"})),
    Page(
        "/iam/area-riservata/sicurezza/reset/<uuid:account_id>",
        "iam",
        "iam_session",
        frozenset({"security_officer"}),
        lambda c: f"/iam/area-riservata/sicurezza/reset/{c.state['sara']}",
        methods=("GET", "POST"),
    ),
    # the consent page without an authorization request in progress: refused to everyone alike
    Page("/oidc/consent", "iam", "public", EVERYONE, success=Cell(400)),
    # enablement's pages (D-ENA-1..7, D-ENA-3 the operator's console, D-ENA-10 the offices)
    Page(  # D-ENA-1: the enabled go on to istanze's home, the others stay with their request
        "/abilitazione/",
        "enablement",
        "service",
        PERSONS,
        expect={n: Cell(303, "/istanze/") for n in ENABLED},
    ),
    Page("/abilitazione/cambia-codice", "enablement", "service", PERSONS, methods=("GET", "POST")),
    Page(  # the adhesion form of a pending request (D-ENA-2): A and B, enabled, have none
        "/abilitazione/modulo.pdf",
        "enablement",
        "service",
        PERSONS,
        expect={n: Cell(404) for n in ENABLED},
    ),
    Page("/abilitazione/operatore", "enablement", "service", OPERATORS),
    Page(
        "/abilitazione/operatore/richieste/<uuid:request_id>",
        "enablement",
        "service",
        OPERATORS,
        lambda c: f"/abilitazione/operatore/richieste/{c.state['request_a']['id']}",
        methods=("POST",),
    ),
    Page("/abilitazione/recupero-codice", "enablement", "service", PERSONS, methods=("GET", "POST")),
    Page("/abilitazione/ricevuta", "enablement", "public", EVERYONE, methods=("GET", "POST")),
    Page("/abilitazione/richiesta", "enablement", "service", PERSONS, methods=("POST",)),
    Page("/abilitazione/rigenera-codice", "enablement", "service", PERSONS, methods=("GET", "POST")),
    Page("/abilitazione/servizio", "enablement", "service", PERSONS),
    Page("/abilitazione/uffici", "enablement", "service", frozenset({"security_officer", "ops"})),
    Page(
        "/abilitazione/uffici/assegnazioni",
        "enablement",
        "service",
        frozenset({"security_officer", "ops"}),
        methods=("POST",),
    ),
    Page(
        "/abilitazione/uffici/rimozioni",
        "enablement",
        "service",
        frozenset({"security_officer", "ops"}),
        methods=("POST",),
    ),
    # istanze's pages (D-IST-2..4): each person's own
    Page("/istanze/", "istanze", "service", PERSONS),
    Page(
        "/istanze/categoria",
        "istanze",
        "service",
        PERSONS,
        methods=("POST",),
        form=lambda c, p: {"staff_category": "ata"},
        posted=Cell(303, "categoria=salvata"),
        effect=category_declared,
    ),
    Page(
        "/istanze/procedure/<code>",
        "istanze",
        "service",
        PERSONS,
        lambda c: f"/istanze/procedure/{PROCEDURE}",
    ),
    Page(
        "/istanze/procedure/<code>/sezione/<section_id>",
        "istanze",
        "service",
        PERSONS,
        lambda c: f"/istanze/procedure/{PROCEDURE}/sezione/sedi",
        methods=("POST",),
    ),
    Page(
        "/istanze/procedure/<code>/riepilogo",
        "istanze",
        "service",
        PERSONS,
        lambda c: f"/istanze/procedure/{PROCEDURE}/riepilogo",
    ),
    Page(
        "/istanze/procedure/<code>/inoltro",
        "istanze",
        "service",
        PERSONS,
        lambda c: f"/istanze/procedure/{PROCEDURE}/inoltro",
        methods=("POST",),
    ),
    Page(  # nothing submitted now (A and B withdrew): the withdrawal page sends back to the summary
        "/istanze/procedure/<code>/annulla",
        "istanze",
        "service",
        PERSONS,
        lambda c: f"/istanze/procedure/{PROCEDURE}/annulla",
        success=Cell(303, "/riepilogo"),
        methods=("GET", "POST"),
    ),
    Page(
        "/istanze/archivio/<receipt_id>/<filename>",
        "istanze",
        "service",
        frozenset({"user"}),
        receipt_page,
        expect={n: Cell(404) for n in ("other", "operator_x", "operator_y", "security_officer")},  # A's only
    ),
    Page(
        "/istanze/recapito",
        "istanze",
        "service",
        PERSONS,
        methods=("GET", "POST"),
        form=page_contacts,
        posted=Cell(303, "recapito?salvati=1"),
        effect=own_page_contacts,
    ),
]

# Rules that are no page of the matrix, each with its reason.
NOT_PAGES = {
    "/healthz": "probe",
    "/readyz": "probe",
    "/metrics": "internal (the gateway refuses it)",
    "/openapi.json": "the API document (internal)",
    "/static/<path:filename>": "assets",
    "/favicon.ico": "asset",
    "/accedi/callback": "the OIDC redirect target: the browser's own login's code and state (test_login_e2e)",
    "/accedi/backchannel-logout": "IAM's signed logout token, server to server (gateway/tests)",
    "/.well-known/openid-configuration": "OIDC protocol (IAM's tests, test_partner_sso_e2e)",
    "/oidc/authorize": "OIDC protocol",
    "/oidc/introspect": "OIDC protocol (client authentication)",
    "/oidc/jwks": "OIDC protocol",
    "/oidc/logout": "OIDC protocol",
    "/oidc/revoke": "OIDC protocol (client authentication)",
    "/oidc/token": "OIDC protocol (client authentication)",
    "/oidc/userinfo": "OIDC protocol (bearer token, IAM's tests)",
    "/oidc/<path:rest>": "the gateway's forwarding to IAM",
}


URL_MAPS = """
import importlib, json, sys, tempfile
base = tempfile.mkdtemp()
apps = [
    importlib.import_module(name).create_app(
        {"DATABASE_URL": f"sqlite:///{base}/{name}.db", "BROKER_URL": "amqp://guest:guest@127.0.0.1:1/%2F"}
    )
    for name in ("iam", "enablement", "istanze")
]
apps.append(importlib.import_module("gateway").create_app({}))
rules = [[r.rule, sorted(r.methods)] for app in apps for r in app.url_map.iter_rules()]
sys.stdout.write("RULES" + json.dumps(rules))
"""


def page_rules(tmp_path: Any) -> dict[str, set[str]]:
    """Every rule of the apps' URL maps outside the JSON APIs -> its methods. The apps are built in a child
    process away from the checkout's root, where the folder gateway/ would shadow the gateway package."""
    env = {**os.environ, "POLIS_ENV": "test"}
    done = subprocess.run(
        [sys.executable, "-c", URL_MAPS], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    rules = json.loads(done.stdout.rsplit("RULES", 1)[1])
    forwarding = ("/iam/<path:rest>", "/abilitazione/<path:rest>", "/istanze/<path:rest>")
    found: dict[str, set[str]] = {}
    for rule, methods in rules:
        if rule.startswith("/api/") or rule in forwarding:
            continue
        found.setdefault(rule, set()).update(set(methods) - {"HEAD", "OPTIONS"})
    return found


class PageMatrix:
    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.outcomes: list[Outcome] = []
        self.check_failures: list[str] = []
        self.strangers: dict[str, Any] = {}

    def browser_of(self, principal: str) -> Any:
        from support.browser import Browser

        if principal in self.ctx.p.people:
            return self.ctx.person(principal).browser
        if principal not in self.strangers:
            self.strangers[principal] = Browser(self.ctx.stack.url())
        return self.strangers[principal]

    def csrf_of(self, page: Page, principal: str) -> str:
        """A CSRF token of the caller's own session at the page's service (from a form it may see)."""
        from support.browser import CSRF

        sources = {
            "iam": ("/iam/recupero-username",),
            "enablement": ("/abilitazione/recupero-codice", "/abilitazione/ricevuta"),
            "istanze": ("/istanze/recapito",),
        }
        browser = self.browser_of(principal)
        for source in sources.get(page.service, ("/esci",)):
            answer = send(self.ctx.stack.url(source), opener=browser.opener)
            text = answer.raw.decode(errors="replace")
            # the page's own form: the account menu above it holds the gateway's logout form and token
            found = CSRF.search(text.split("<main", 1)[-1])
            if answer.status == 200 and found:
                return found.group(1)
        return ""

    def cell(self, page: Page, principal: str, method: str) -> None:
        ctx = self.ctx
        if method == "POST" and principal in page.allow and page.form is None:
            return  # the other allowed forms: the browser tests (their API twins are rows of TABLE)
        try:
            target = (page.get or (lambda c: page.rule))(ctx)
        except Exception as failed:
            self.check_failures.append(f"page {page.rule} as {principal}: no path: {failed}")
            return
        browser = self.browser_of(principal)
        token = None if principal in ctx.p.people else ctx.p.token(principal, page.base(), page.service)
        headers = {"Accept": "text/html"}
        data, csrf = None, ""
        if method == "POST":
            csrf = self.csrf_of(page, principal)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            fields = page.form(ctx, principal) if page.form and principal in page.allow else {}
            data = urllib.parse.urlencode({**fields, "csrf_token": csrf})
        answer = send_form(
            ctx.stack.url(target), method, token=token, data=data, headers=headers, opener=browser.opener
        )
        expected = page.posted if method == "POST" and principal in page.allow else page.expected(principal)
        if method == "POST" and not csrf and principal not in page.expect and principal not in page.allow:
            expected = Cell(400)  # no form of that service is this caller's: the CSRF refusal comes first
        row = Row(f"{method} {page.rule}", page.guard, page.allow)
        outcome = Outcome(row, principal, "page", expected, answer)
        self.outcomes.append(outcome)
        if outcome.passed and principal in page.allow and method == "POST" and page.effect:
            try:
                page.effect(ctx, principal)
            except Exception as failed:
                self.check_failures.append(
                    f"form {page.rule} as {principal}: {type(failed).__name__} {failed}"
                )
        if outcome.passed and principal in page.allow and method == "GET" and page.check:
            try:
                page.check(ctx, principal, answer)
            except Exception as failed:
                self.check_failures.append(
                    f"page {page.rule} as {principal}: {type(failed).__name__} {failed}"
                )

    def run(self) -> None:
        for page in PAGES:
            for method in page.methods:
                for principal in PRINCIPALS:
                    self.cell(page, principal, method)


def send_form(
    url: str, method: str, *, token: str | None, data: str | None, headers: dict[str, str], opener: Any
) -> Answer:
    """A browser's request: a form body (or none), the caller's cookies, no redirects followed."""
    import urllib.error
    import urllib.request

    all_headers = dict(headers)
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 - the local stack
        url, data=data.encode() if data is not None else None, method=method, headers=all_headers
    )
    try:
        with opener.open(request, timeout=60) as response:
            return Answer(
                response.status, None, {k.lower(): v for k, v in response.headers.items()}, response.read()
            )
    except urllib.error.HTTPError as error:
        return Answer(error.code, None, {k.lower(): v for k, v in error.headers.items()}, error.read())


# --- the run ------------------------------------------------------------------------------------------


def documented_operations(stack: SystemStack) -> dict[str, str]:
    """Every operation of the four documents ("METHOD /path") -> its documented success status."""
    found: dict[str, str] = {}
    for service in SERVICES:
        document = send(stack.api(service, "/openapi.json")).body
        for template, entries in document["paths"].items():
            for method, entry in entries.items():
                found[f"{method.upper()} {template}"] = min(
                    s for s in entry["responses"] if s.startswith("2")
                )
    return found


def server_errors(stack: SystemStack) -> str:
    """The tracebacks the services logged (a 5xx is a finding: its cause, for the report)."""
    found = []
    for name in stack.processes:
        for line in stack.log(name).splitlines():
            if '"level": "error"' in line or "Traceback" in line:
                found.append(f"{name}: {line[:3000]}")
    return "\n".join(found[-20:])


@dataclass
class Outcome:
    row: Row
    principal: str
    where: str  # "gateway" or "service"
    expected: Cell
    answer: Answer
    edge: bool = False  # the gateway's refusal of an internal path

    @property
    def passed(self) -> bool:
        if self.answer.status != self.expected.status:
            return False
        if self.expected.code is None:
            return True
        if 300 <= self.expected.status < 400:  # a redirect: where to
            return self.expected.code in self.answer.headers.get("location", "")
        return self.answer.error_code == self.expected.code

    def describe(self) -> str:
        body = self.answer.raw[:300].decode(errors="replace")
        if 300 <= self.answer.status < 400:
            body = "-> " + self.answer.headers.get("location", "")
        return (
            f"{self.row.op} as {self.principal} ({self.where}): expected {self.expected.status}"
            f"{' ' + self.expected.code if self.expected.code else ''}, got {self.answer.status}: {body}"
        )


class Matrix:
    def __init__(self, ctx: Ctx, success: dict[str, str]) -> None:
        self.ctx = ctx
        self.success = success
        self.outcomes: list[Outcome] = []
        self.check_failures: list[str] = []
        self.deferred: list[tuple[Row, str]] = []
        self.pages = PageMatrix(ctx)

    def cell(self, row: Row, principal: str) -> None:
        ctx = self.ctx
        expected = row.expected(principal, int(self.success[row.op]))
        try:
            request = (row.build or (lambda c, p: Req(row.template)))(ctx, principal)
        except Exception as failed:  # what an earlier cell should have left is missing: reported
            failure = f"{type(failed).__name__} {failed}"
            self.check_failures.append(f"{row.op} as {principal}: no request: {failure}")
            return
        token = ctx.p.token(principal, row.base(), row.service)
        rest = request.path.split("/", 3)[3]
        internal = internal_only(row.service, rest.split("?", 1)[0])
        if internal:  # the public edge refuses it to everyone, whatever the token
            edge = send(
                ctx.stack.url(request.path),
                row.method,
                token=token,
                body=request.body,
                headers=request.headers,
            )
            self.outcomes.append(Outcome(row, principal, "gateway", Cell(404), edge, edge=True))
        base = ctx.stack.api(row.service, "") if internal else ctx.stack.url("")
        answer = send(
            base + request.path, row.method, token=token, body=request.body, headers=request.headers
        )
        outcome = Outcome(row, principal, "service" if internal else "gateway", expected, answer)
        self.outcomes.append(outcome)
        if outcome.passed and principal in row.allow and 200 <= answer.status < 300 and row.check:
            try:
                row.check(ctx, principal, answer)
            except Exception as failed:
                self.check_failures.append(f"{row.op} as {principal}: {type(failed).__name__} {failed}")

    def run_row(self, row: Row) -> None:
        refused = [p for p in PRINCIPALS if p not in row.allow]
        allowed = [p for p in PRINCIPALS if p in row.allow]
        for principal in refused + allowed:
            if principal == "expired" and not self.ctx.p.expired_ready:
                self.deferred.append((row, principal))
                continue
            self.cell(row, principal)

    def run(self) -> None:
        for row in (r for r in TABLE if r.phase == "main"):
            self.run_row(row)
        self.ctx.p.wait_until_expired()
        for row, principal in self.deferred:
            self.cell(row, principal)
        self.pages.run()
        for row in (r for r in TABLE if r.phase == "last"):
            self.run_row(row)


def test_every_operation_answers_every_principal_as_the_table_says(stack_factory: Any, tmp_path: Any) -> None:
    started_at = time.monotonic()
    stack: SystemStack = stack_factory(env={"GATEWAY_RATELIMIT_ENABLED": "false"})
    success = documented_operations(stack)
    rows = [row.op for row in TABLE]
    duplicates = [op for op, n in Counter(rows).items() if n > 1]
    assert not duplicates, duplicates
    missing = sorted(set(success) - set(rows))
    unknown = sorted(set(rows) - set(success))
    assert not missing, f"operations with no row in the access matrix: {missing}"
    assert not unknown, f"rows for operations no document lists: {unknown}"
    rules = page_rules(tmp_path)
    declared = {page.rule for page in PAGES}
    assert not sorted(set(rules) - declared - set(NOT_PAGES)), sorted(set(rules) - declared - set(NOT_PAGES))
    assert not sorted(declared - set(rules)), sorted(declared - set(rules))
    for page in PAGES:
        assert set(page.methods) <= rules[page.rule], (page.rule, page.methods, rules[page.rule])

    try:
        ctx = Ctx(stack, make_principals(stack))
        matrix = Matrix(ctx, success)
        matrix.run()
    except Exception:
        print(server_errors(stack))
        raise

    outcomes = matrix.outcomes + matrix.pages.outcomes
    failed = [o.describe() for o in outcomes if not o.passed]
    failed += matrix.check_failures + matrix.pages.check_failures
    cells = len(outcomes)
    allowed = sum(1 for o in outcomes if o.principal in o.row.allow and not o.edge)
    api = sum(1 for o in matrix.outcomes if not o.edge)
    edge = len(matrix.outcomes) - api
    page_cells = len(matrix.pages.outcomes)
    print(
        f"\naccess matrix: {len(TABLE)} operations and {len(PAGES)} pages x {len(PRINCIPALS)} principals: "
        f"{cells} cells ({api} API, {edge} at the gateway's edge, {page_cells} pages; {allowed} allowed), "
        f"{len(failed)} failed, {time.monotonic() - started_at:.0f} s"
    )
    if failed:
        print(server_errors(stack))
    assert not failed, "\n".join(failed)
