"""No answer tells whether an account exists (D-ACC-5, D-ACC-6, D-ACC-3; issue 17 item 3).

For each question an attacker can ask about a stranger — "username forgotten" for a codice fiscale,
"Password dimenticata?" for a (username, codice fiscale) pair, registration with a codice fiscale that
already has an account, login with a username — the answer for an existing account and for a missing one
is compared over PAIRS interleaved pairs: the same status, the same body byte for byte (once the per-request
tokens are taken out), the same headers and cookies, and a median time difference within the pairs under
MAX_MEDIAN_GAP_MS. argon2 runs at the production (OWASP) parameters here: a missing verification on one
path is a 30 ms gap. Statistics over many pairs, never a timing assertion on one call.
"""

from __future__ import annotations

import re
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam.accounts.models import Account, AccountState
from iam.extensions import db
from iam.passwords.hashing import hash_secret
from oidc_helpers import make_app
from registration_helpers import API, Person, captcha

PAIRS = 100
MAX_MEDIAN_GAP_MS = 5.0
PASSWORD = "una frase lunga e facile da ricordare"
WRONG = "non è questa la password giusta"
# Per-request values that differ between any two answers, existing account or not.
TOKENS = (
    re.compile(rb'name="csrf_token" value="[^"]+"'),
    re.compile(rb'"token": ?"[^"]+"'),
    re.compile(rb'data-challenge="[^"]+"'),
    re.compile(rb'nonce="[^"]+"'),
)
VARYING_HEADERS = {"date", "x-request-id", "set-cookie"}


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    if not database_url.startswith("sqlite"):
        pytest.skip("timing is compared on one database: SQLite, the quieter of the two here")
    # The production argon2 cost (m=19 MiB, t=2), not the tests' cheap one.
    yield from make_app(database_url, ARGON2_MEMORY_KIB=19 * 1024, ARGON2_TIME_COST=2, CAPTCHA="test")


def person(index: int, *, first_name: str) -> Person:
    born = date(1960, 1, 1) + timedelta(days=index * 97)
    return Person("Rossi", first_name, born.isoformat(), "M" if first_name == "Mario" else "F", "Roma")


def existing_accounts(count: int) -> list[tuple[Person, str]]:
    """`count` active accounts with production-cost password hashes: (person, username)."""
    now = datetime.now(UTC)
    people = [(person(index, first_name="Mario"), f"mario.rossi{index:03d}") for index in range(count)]
    with db.transaction() as session:
        for someone, username in people:
            session.add(
                Account(
                    id=uuid.uuid4(),
                    username=username,
                    state=AccountState.ACTIVE.value,
                    kind="ordinary",
                    roles=[],
                    codice_fiscale=someone.codice_fiscale,
                    first_name=someone.first_name,
                    last_name=someone.last_name,
                    personal_email=f"{username}@example.org",
                    personal_email_verified_at=now,
                    language="it",
                    password_hash=hash_secret(PASSWORD),
                    security_question="Il nome del mio primo gatto?",
                    security_answer_hash=hash_secret("Fuffi"),
                    credentials_version=1,
                    failed_logins=0,
                    created_at=now,
                    activated_at=now,
                )
            )
    return people


def missing_people(count: int) -> list[tuple[Person, str]]:
    """People with valid codici fiscali and no account; usernames as long as the existing ones."""
    return [(person(index, first_name="Marta"), f"marta.verdi{index:03d}") for index in range(count)]


class Answer:
    def __init__(self, response: Any, elapsed: float, typed: tuple[str, ...]) -> None:
        self.status = response.status_code
        body = response.get_data()
        for value in typed:  # what the user typed may be echoed in the form: same length on both sides
            body = body.replace(value.encode(), b"<typed>")
        for token in TOKENS:
            body = token.sub(b"<token>", body)
        self.body = body
        self.headers = sorted(
            (name.lower(), value)
            for name, value in response.headers.items()
            if name.lower() not in VARYING_HEADERS
        )
        self.cookies = sorted(_cookie_shape(value) for value in response.headers.getlist("Set-Cookie"))
        self.elapsed_ms = elapsed * 1000


def _cookie_shape(header: str) -> str:
    name, _, rest = header.partition("=")
    _value, _, attributes = rest.partition(";")
    return f"{name}=<value>;{attributes}"


def timed(call: Callable[[], Any], *typed: str) -> Answer:
    started = time.perf_counter()
    response = call()
    return Answer(response, time.perf_counter() - started, typed)


def compare(pairs: list[tuple[Answer, Answer]]) -> float:
    """Assert the answers identical; the median of the pairs' time differences, in ms (paired: a pair is
    asked back to back, so a slow moment of the machine weighs on both of its answers)."""
    for existing, missing in pairs:
        assert existing.status == missing.status
        assert existing.body == missing.body
        assert existing.headers == missing.headers
        assert existing.cookies == missing.cookies
    return abs(statistics.median(e.elapsed_ms - m.elapsed_ms for e, m in pairs))


def interleaved(
    ask: Callable[[tuple[Person, str]], Answer], existing: list[Any], missing: list[Any]
) -> float:
    pairs = []
    for index, (known, unknown) in enumerate(zip(existing, missing, strict=True)):
        # Alternating order: a drift of the machine's speed during the run weighs on both sides alike.
        if index % 2:
            known_answer = ask(known)
            unknown_answer = ask(unknown)
        else:
            unknown_answer = ask(unknown)
            known_answer = ask(known)
        pairs.append((known_answer, unknown_answer))
    gap = compare(pairs)
    known_ms = statistics.median(answer.elapsed_ms for answer, _ in pairs)
    unknown_ms = statistics.median(answer.elapsed_ms for _, answer in pairs)
    # Shown with -s, for the notes.
    print(f"{len(pairs)} pairs: existing {known_ms:.2f} ms, missing {unknown_ms:.2f} ms, gap {gap:.2f} ms")
    return gap


@pytest.fixture
def people(app: Flask) -> tuple[list[tuple[Person, str]], list[tuple[Person, str]]]:
    return existing_accounts(PAIRS), missing_people(PAIRS)


def test_username_forgotten_answers_alike_d_acc_5(client: FlaskClient, people: Any) -> None:
    def ask(someone: tuple[Person, str]) -> Answer:
        body = {"codice_fiscale": someone[0].codice_fiscale, "captcha": captcha()}
        return timed(lambda: client.post("/api/iam/v1/recovery/username", json=body))

    assert interleaved(ask, *people) < MAX_MEDIAN_GAP_MS


def test_password_forgotten_answers_alike_d_acc_6(client: FlaskClient, people: Any) -> None:
    def ask(someone: tuple[Person, str]) -> Answer:
        body = {"username": someone[1], "codice_fiscale": someone[0].codice_fiscale, "captcha": captcha()}
        return timed(lambda: client.post("/api/iam/v1/recovery/password", json=body))

    assert interleaved(ask, *people) < MAX_MEDIAN_GAP_MS


def test_registration_with_a_taken_codice_fiscale_answers_alike_d_acc_3(
    client: FlaskClient, people: Any
) -> None:
    def ask(someone: tuple[Person, str]) -> Answer:
        who, username = someone
        started = client.post(
            API, json={"codice_fiscale": who.codice_fiscale, "captcha": captcha(), "language": "it"}
        )
        assert started.status_code == 201, started.get_json()
        headers = {"X-Registration-Token": started.get_json()["token"]}
        for path, body in (
            ("personal-data", who.personal_data()),
            ("contacts", {"personal_email": f"{username}@example.net"}),
            ("security-question", {"question": "Il nome del mio primo gatto?", "answer": "Fuffi Primo"}),
        ):
            assert client.put(f"{API}/current/{path}", json=body, headers=headers).status_code == 200
        # The last step is where an existing account could show: the email address is echoed (same length).
        return timed(
            lambda: client.post(f"{API}/current/submit", json={"consent": True}, headers=headers),
            f"{username}@example.net",
        )

    assert interleaved(ask, *people) < MAX_MEDIAN_GAP_MS


def test_login_with_an_unknown_username_answers_like_a_wrong_password_d_acc_6(
    client: FlaskClient, people: Any
) -> None:
    def ask(someone: tuple[Person, str]) -> Answer:
        page = client.get("/iam/accedi?next=/").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, page
        form = {"username": someone[1], "password": WRONG, "next": "/", "csrf_token": token.group(1)}
        return timed(lambda: client.post("/iam/accedi", data=form), someone[1])

    assert interleaved(ask, *people) < MAX_MEDIAN_GAP_MS
