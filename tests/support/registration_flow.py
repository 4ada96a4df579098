"""Registration through the gateway's API as a client drives it (D-ACC-3): a solved ALTCHA, the steps, the
submit; each person is new (a random name, birth date and the codice fiscale they give)."""

from __future__ import annotations

import base64
import json
import random
import string
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import altcha
from codicefiscale import codicefiscale

from support.stack import SystemStack

API = "/api/iam/v1/registrations"
SUBMIT = f"{API}/current/submit"


def call(
    stack: SystemStack, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    """One JSON call through the gateway; the status and the decoded answer (errors included)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["X-Registration-Token"] = token
    request = urllib.request.Request(  # noqa: S310 - local test URL
        stack.url(path),
        data=None if body is None else json.dumps(body).encode(),
        headers=headers,
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - local test URL
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def solved_captcha(stack: SystemStack) -> str:
    """Fetch an ALTCHA challenge through the gateway and solve it as the widget's worker would."""
    status, challenge = call(stack, "GET", "/api/iam/v1/captcha/challenge")
    assert status == 200
    return solve_altcha(challenge)


def solve_altcha(challenge: dict[str, Any]) -> str:
    """The widget's answer to an ALTCHA challenge (IAM's /api/iam/v1/captcha/challenge): solved, encoded."""
    solution = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxNumber"]
    )
    assert solution is not None
    payload = {key: challenge[key] for key in ("algorithm", "challenge", "salt", "signature")}
    payload["number"] = solution.number
    return base64.b64encode(json.dumps(payload).encode()).decode()


@dataclass(frozen=True)
class Person:
    last_name: str
    first_name: str
    birth_date: str
    sex: str
    birth_place: str = "Busseto"

    @classmethod
    def new(cls) -> Person:
        def name() -> str:
            letters = random.choices(string.ascii_lowercase, k=7)
            return "".join(letters).capitalize()

        born = date(1950, 1, 1) + timedelta(days=random.randrange(50 * 365))
        return cls(name(), name(), born.isoformat(), random.choice("MF"))

    @property
    def codice_fiscale(self) -> str:
        return str(
            codicefiscale.encode(
                self.last_name,
                self.first_name,
                self.sex,  # type: ignore[arg-type]
                self.birth_date,
                self.birth_place,
            )
        )


def register(stack: SystemStack, email: str, person: Person | None = None) -> tuple[int, Any]:
    """Every step of a registration with `email` as the personal address; the answer of the last one
    (202: the account is created and its confirmation link is on its way)."""
    person = person or Person.new()
    status, started = call(
        stack,
        "POST",
        API,
        {"codice_fiscale": person.codice_fiscale, "captcha": solved_captcha(stack), "language": "it"},
    )
    assert status == 201, started
    token = started["token"]
    steps = [
        (
            "personal-data",
            {
                "last_name": person.last_name,
                "first_name": person.first_name,
                "birth_date": person.birth_date,
                "sex": person.sex,
                "birth_place": person.birth_place,
            },
        ),
        ("contacts", {"personal_email": email}),
        ("security-question", {"question": "La mia prima opera?", "answer": "Oberto"}),
    ]
    for path, body in steps:
        status, answer = call(stack, "PUT", f"{API}/current/{path}", body, token)
        assert status == 200, answer
    return call(stack, "POST", SUBMIT, {"consent": True}, token)
