"""Shared by the istanze page tests (test_istanze_pages_*.py): an app as the gateway reaches it (the
session's token as Authorization), enablement's personal-code check faked, a clock the test moves, and a
procedure whose form uses every field type (issue 15 item 2)."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from istanze import create_app
from istanze.applications import service
from istanze.applications.views import CHECKER
from istanze.extensions import db
from istanze.models import all_metadata
from istanze.pages.common import CLOCK
from istanze.procedures import service as procedures
from polis.testing.apps import service_app
from polis.testing.token_contract import bearer
from polis.testing.tokens import TestIssuer

AUDIENCE = "urn:polis:istanze"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
KEY = re.compile(r'name="key" value="([^"]+)"')
CODE = "Codice2042"  # the user's personal code, as the fake enablement knows it
LOCKED, TEMPORARY = "Bloccato1", "Temporaneo1"  # enablement answers locked / must_change to these
# 14:00 in Rome on the last Sunday of October 2027, the day summer time ends (D-IST-1/6).
CLOSES_LOCAL = datetime(2027, 10, 31, 14, 0)
DURING = datetime(2027, 10, 20, 8, 0, tzinfo=UTC)
LAST_SECOND = datetime(2027, 10, 31, 12, 59, 59, tzinfo=UTC)
CLOSED = datetime(2027, 10, 31, 13, 0, 0, tzinfo=UTC)

FORM = {
    "sections": [
        {
            "id": "dati",
            "title_it": "Dati di servizio",
            "title_en": "Service details",
            "fields": [
                {
                    "name": "qualifica",
                    "type": "text",
                    "required": True,
                    "max_length": 40,
                    "label_it": "Qualifica",
                    "label_en": "Position",
                },
                {
                    "name": "anni",
                    "type": "number",
                    "integer": True,
                    "min": 0,
                    "max": 45,
                    "required": True,
                    "label_it": "Anni di servizio",
                    "label_en": "Years of service",
                },
                {
                    "name": "nomina",
                    "type": "date",
                    "required": True,
                    "label_it": "Data di nomina",
                    "label_en": "Date of appointment",
                },
                {
                    "name": "profilo",
                    "type": "choice",
                    "options": ["aa", "cs"],
                    "required": True,
                    "option_labels_it": {"aa": "Assistente amministrativo", "cs": "Collaboratore scolastico"},
                    "option_labels_en": {"aa": "Administrative assistant", "cs": "School caretaker"},
                    "label_it": "Profilo",
                    "label_en": "Profile",
                },
            ],
        },
        {
            "id": "sedi",
            "title_it": "Scelta delle sedi",
            "title_en": "Choice of schools",
            "fields": [
                {"name": "schools", "type": "schools", "max_items": 3, "required": True},
                {
                    "name": "allegato",
                    "type": "attachment",
                    "max_bytes": 1000,
                    "label_it": "Documentazione (PDF)",
                    "label_en": "Documents (PDF)",
                },
                {
                    "name": "dpr445",
                    "type": "declaration",
                    "required": True,
                    "label_it": "Dichiaro ai sensi del DPR 445/2000 che quanto indicato è vero.",
                    "label_en": "I declare under DPR 445/2000 that the above is true.",
                },
            ],
        },
    ]
}


class FakeEnablement:
    """enablement.check_personal_code as its contract answers, per account."""

    def __init__(self) -> None:
        self.calls = 0
        self.not_enabled: set[uuid.UUID] = set()

    def __call__(self, account_id: uuid.UUID, code: str) -> Mapping[str, Any]:
        self.calls += 1
        if account_id in self.not_enabled:
            return {"valid": False, "status": "not_enabled"}
        if code == LOCKED:
            return {"valid": False, "status": "locked", "retry_after": 60}
        if code == TEMPORARY:
            return {"valid": False, "status": "must_change"}
        return {"valid": True, "status": "ok"} if code == CODE else {"valid": False, "status": "wrong"}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def body(response: Any) -> str:
    """A page's text with the HTML entities read (Jinja writes ' as &#39;)."""
    return html.unescape(response.get_data(as_text=True))


class Pages:
    """A user's browser through the gateway: their token on every request, the CSRF token from the pages."""

    def __init__(self, client: FlaskClient, issuer: TestIssuer, user: uuid.UUID) -> None:
        self.client, self.user = client, user
        self.headers = bearer(issuer.token(audience=AUDIENCE, sub=str(user), name="Lucia Verdi"))

    def get(self, path: str) -> Any:
        return self.client.get(path, headers=self.headers)

    def text(self, path: str) -> str:
        page = self.get(path)
        assert page.status_code == 200, (page.status_code, page.get_data(as_text=True)[:500])
        return body(page)

    def post(self, path: str, data: Mapping[str, Any], *, page: str | None = None, **options: Any) -> Any:
        form = self.text(page or path)
        if "csrf_token" not in form:
            form = self.text("/istanze/")  # the category form: the same session's token
        token = CSRF.search(form).group(1)  # type: ignore[union-attr]
        return self.client.post(path, data={"csrf_token": token, **data}, headers=self.headers, **options)


def pages_app(database_url: str, issuer: TestIssuer) -> Iterator[Flask]:
    """The body of each page test module's `app` fixture (a fixture here would need importing by name)."""
    with service_app(
        create_app, db=db, metadata=all_metadata(), database_url=database_url, issuer=issuer
    ) as application:
        application.extensions[CHECKER] = FakeEnablement()
        application.extensions[CLOCK] = Clock(DURING)
        yield application


def define_procedure(code: str = "modello-d3", categories: tuple[str, ...] = ("ata",)) -> None:
    with db.transaction() as session:
        procedure = procedures.define(
            session,
            code=code,
            title_it="Modello D3 – scelta delle sedi",  # noqa: RUF001
            title_en="Form D3 – choice of schools",  # noqa: RUF001
            description_it="Per il personale ATA.",
            description_en="For ATA staff.",
            staff_categories=list(categories),
            opens_local=datetime(2027, 10, 1, 9, 0),
            closes_local=CLOSES_LOCAL,
            form=FORM,
        )
        procedures.publish(session, code=code, version=procedure.version)


def declare(user: uuid.UUID, category: str) -> None:
    with db.transaction() as session:
        service.declare_category(session, account_id=user, staff_category=category)


def application_state(user: uuid.UUID, code: str = "modello-d3") -> tuple[str, Any] | None:
    with db.transaction() as session:
        found = service.application_of(session, account_id=user, code=code)
        return (found.state, found.protocol_number) if found else None


DATI = {"qualifica": "Assistente", "anni": "12", "nomina": "2015-09-01", "profilo": "aa"}
SEDI = {"schools-1": "RMIC8AB00X", "schools-2": "MIIS00900T", "dpr445": "on"}
