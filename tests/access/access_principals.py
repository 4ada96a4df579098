"""The principals of the access matrix (tests/access/test_access_matrix.py), made on a real stack through the
real flows, and the HTTP calls the cells make.

- anonymous: no Authorization header.
- user (A): a new person registered through the gateway's registration API (D-ACC-3), activated by the
  emailed link; not enabled yet, so the matrix walks them through enablement (D-ENA-2..4) and istanze.
- other (B): mario.rossi of the demo data (enabled, D-ENA-1): another user, who must never see or change A's.
- operator_x: paolo.neri, operator of office RMIC8AB00X (demo data, D-ENA-3/10); operator_y: a new operator
  assigned by the ops API to MIPS01000C only: never acts for RMIC8AB00X.
- security_officer: a new account with the security_officer role only (D-ACC-2).
- ops: the polis-ops client (client credentials, the ops role on every API).
- partner: a partner service's access token for A (iscrizioni: identity scopes, no Polis API audience).
- other_audience, expired, tampered, alg_none: derived from the token a cell's allowed principal holds (its
  "base"): the same kind of token for another service's audience; one IAM issued with a 60 s lifetime,
  expired; its payload changed (every role added) under the original signature; its claims with alg none.
The people sign in to the portal (tests/support/oidc_tokens.py) and hold its tokens; their browsers hold the
portal session for the pages."""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from polis.testing.helpers import wait_until
from support import oidc_tokens, registration_flow
from support.browser import Browser
from support.stack import SystemStack

PRINCIPALS = (
    "anonymous",
    "user",
    "other",
    "operator_x",
    "operator_y",
    "security_officer",
    "ops",
    "partner",
    "other_audience",
    "expired",
    "tampered",
    "alg_none",
)
PEOPLE = ("user", "other", "operator_x", "operator_y", "security_officer")
DERIVED = ("other_audience", "expired", "tampered", "alg_none")
EMAIL_TIMEOUT = 60.0
PASSWORD = "matrice lanterna autunno violino"
OFFICE_X, OFFICE_Y = "RMIC8AB00X", "MIPS01000C"
SHORT_TTL = 60  # the shortest access token lifetime IAM issues (clients.ACCESS_TOKEN_TTL)
API_SCOPES = ("iam", "enablement", "istanze", "notifier")
PARTNER = ("iscrizioni", "dev-only-iscrizioni-client-secret", "https://iscrizioni.example.invalid/callback")


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]
    raw: bytes = b""

    @property
    def error_code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("code"))
        return None


def send(
    url: str,
    method: str = "GET",
    *,
    token: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    opener: urllib.request.OpenerDirector | None = None,
) -> Answer:
    """One HTTP call (no redirects followed); a JSON answer decoded, any other kept as bytes."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    if data is None and method in ("GET", "HEAD"):
        all_headers.pop("Content-Type")
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)  # noqa: S310
    open_ = (opener or _NO_REDIRECTS).open
    try:
        with open_(request, timeout=60) as response:
            raw, status, got = response.read(), response.status, response.headers
    except urllib.error.HTTPError as error:
        raw, status, got = error.read(), error.code, error.headers
    decoded: Any = raw
    if "json" in (got.get("Content-Type") or ""):
        decoded = json.loads(raw) if raw else None
    return Answer(status, decoded, {k.lower(): v for k, v in got.items()}, raw)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NO_REDIRECTS = urllib.request.build_opener(_NoRedirect())


def text_of(message: EmailMessage) -> str:
    return "\n".join(p.get_content() for p in message.walk() if p.get_content_maintype() == "text")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def tampered(token: str) -> str:
    """Every role and API scope added to the payload; the header and IAM's signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(_unb64(payload))
    claims["roles"] = sorted({*claims.get("roles", []), "user", "ops", "operator", "security_officer"})
    claims["scope"] = " ".join(sorted({*claims.get("scope", "").split(), *API_SCOPES}))
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def alg_none(token: str) -> str:
    """The token's own claims, unsigned (`alg: none`, RFC 7519 section 6)."""
    header, payload, _ = token.split(".")
    head = {**json.loads(_unb64(header)), "alg": "none"}
    return f"{_b64(json.dumps(head).encode())}.{payload}."


def claims_of(token: str) -> dict[str, Any]:
    return dict(json.loads(_unb64(token.split(".")[1])))


@dataclass
class Person:
    name: str  # the principal
    username: str
    password: str
    account_id: str
    codice_fiscale: str
    email: str
    browser: Browser
    token: str
    security_answer: str = ""
    full_name: str = ""
    personal_code: str | None = None  # once they hold an active one


@dataclass
class Principals:
    stack: SystemStack
    people: dict[str, Person] = field(default_factory=dict)
    ops_token: str = ""
    partner_token: str = ""
    # (base principal, service) -> a token of the base's kind for another service's audience
    other_audience: dict[tuple[str, str], str] = field(default_factory=dict)
    expired: dict[str, str] = field(default_factory=dict)  # base principal -> a token that will expire
    expired_ready: bool = False

    def token(self, principal: str, base: str, service: str) -> str | None:
        """The Authorization token `principal` sends on a call to `service`; `base` for the derived ones."""
        if principal == "anonymous":
            return None
        if principal in self.people:
            return self.people[principal].token
        if principal == "ops":
            return self.ops_token
        if principal == "partner":
            return self.partner_token
        base_token = self.token(base, base, service)
        assert base_token is not None, base
        if principal == "tampered":
            return tampered(base_token)
        if principal == "alg_none":
            return alg_none(base_token)
        if principal == "expired":
            return self.expired.get(base) or self.expired["user"]
        if principal == "other_audience":
            return self.other_audience_token(base, service)
        raise AssertionError(principal)

    def other_audience_token(self, base: str, service: str) -> str:
        """The base's kind of token (ops or a person's) issued for one API that is not `service`'s."""
        other = "notifier" if service != "notifier" else "istanze"
        if base != "ops":
            other = "istanze" if service != "istanze" else "enablement"
        key = (base, service)
        if key not in self.other_audience:
            if base == "ops":
                token = oidc_tokens.client_credentials(
                    self.stack, "matrix-audience", self.audience_secret, scope=other
                )
            else:
                person = self.people[base]
                token = oidc_tokens.code_flow(self.stack, person.browser, scope=f"openid {other}")[
                    "access_token"
                ]
            audiences = claims_of(token)["aud"]
            assert audiences == [f"urn:polis:{other}"], audiences
            self.other_audience[key] = str(token)
        return self.other_audience[key]

    audience_secret: str = ""

    def wait_until_expired(self) -> None:
        """Until every expired-to-be token is refused as expired (IAM's lifetime plus the services' skew)."""
        if self.expired_ready:
            return
        me = self.stack.api("enablement", "/api/enablement/v1/me")
        wait_until(
            lambda: all(send(me, token=t).status == 401 for t in self.expired.values()),
            timeout=SHORT_TTL * 3 + 30,
            interval=2.0,
        )
        self.expired_ready = True


def ops_call(
    stack: SystemStack, token: str, service: str, method: str, path: str, body: Any = None
) -> Answer:
    return send(stack.api(service, path), method, token=token, body=body)


def register_person(stack: SystemStack, tag: str) -> tuple[registration_flow.Person, str, str]:
    """A new person through the registration API and the emailed link: (person, username, email)."""
    person = registration_flow.Person.new()
    email = f"{tag}-{uuid.uuid4().hex[:8]}@example.org"
    status, answer = registration_flow.register(stack, email, person)
    assert status == 202, answer
    token = link_token(stack, email, r"/iam/registrazione/conferma/([A-Za-z0-9_.\-]+)")
    status, activated = registration_flow.call(
        stack, "POST", "/api/iam/v1/registrations/activation", {"token": token, "password": PASSWORD}
    )
    assert status == 200, activated
    return person, str(activated["username"]), email


def link_token(stack: SystemStack, address: str, pattern: str, count: int = 1, subject: str = "") -> str:
    """The token of the link in the `count`-th email to `address` (polling the SMTP sink)."""
    messages = stack.smtp.wait_for_email(address, count, subject=subject, timeout=EMAIL_TIMEOUT)
    for message in reversed(messages):
        found = re.search(pattern, text_of(message))
        if found:
            return urllib.parse.unquote(found.group(1))
    raise AssertionError(f"no link {pattern} in the emails to {address}")


def sign_in(stack: SystemStack, name: str, username: str, password: str, **details: Any) -> Person:
    browser, tokens = oidc_tokens.sign_in(stack, username, password)
    token = str(tokens["access_token"])
    me = send(stack.url("/api/iam/v1/me"), token=token)
    assert me.status == 200, me
    return Person(
        name=name,
        username=username,
        password=password,
        account_id=str(me.body["id"]),
        codice_fiscale=str(me.body["codice_fiscale"]),
        email=str(me.body.get("reference_email") or ""),
        browser=browser,
        token=token,
        full_name=f"{me.body['first_name']} {me.body['last_name']}",
        **details,
    )


def make_principals(stack: SystemStack) -> Principals:
    """Every principal of the matrix, from the real flows (see the module's docstring)."""
    from iam.demo import DEMO_ACCOUNTS
    from test_enablement_e2e import create_account  # an account straight in IAM, its fact on the bus

    demo = {account.username: account for account in DEMO_ACCOUNTS}
    found = Principals(stack)
    found.ops_token = oidc_tokens.client_credentials(stack, "polis-ops", oidc_tokens.OPS_SECRET)

    # The test's own clients: one for tokens of another audience, two whose tokens live 60 s.
    def put_client(client_id: str, body: dict[str, Any]) -> str:
        saved = ops_call(
            stack, found.ops_token, "iam", "PUT", f"/api/iam/v1/ops/oidc-clients/{client_id}", body
        )
        assert saved.status in (200, 201), saved
        return str(saved.body["client_secret"])

    found.audience_secret = put_client(
        "matrix-audience",
        {
            "name": "Access matrix: one API at a time",
            "trusted": True,
            "grant_types": ["client_credentials"],
            "scopes": list(API_SCOPES),
            "service_roles": ["ops"],
        },
    )
    short_ops_secret = put_client(
        "matrix-short-ops",
        {
            "name": "Access matrix: short-lived ops tokens",
            "trusted": True,
            "grant_types": ["client_credentials"],
            "scopes": list(API_SCOPES),
            "service_roles": ["ops"],
            "access_token_ttl": SHORT_TTL,
        },
    )
    short_redirect = stack.url("/matrix/callback")
    short_user_secret = put_client(
        "matrix-short-user",
        {
            "name": "Access matrix: short-lived user tokens",
            "trusted": True,
            "redirect_uris": [short_redirect],
            "grant_types": ["authorization_code"],
            "scopes": ["openid", "profile", "email", "iam", "enablement", "istanze"],
            "access_token_ttl": SHORT_TTL,
        },
    )
    found.expired["ops"] = oidc_tokens.client_credentials(stack, "matrix-short-ops", short_ops_secret)

    # A: registered and activated now; B, operator X: demo data; operator Y and the officer: new accounts.
    _person, username, _email = register_person(stack, "matrix-a")
    found.people["user"] = sign_in(stack, "user", username, PASSWORD, security_answer="Oberto")
    for name, demo_name in (("other", "mario.rossi"), ("operator_x", "paolo.neri")):
        account = demo[demo_name]
        found.people[name] = sign_in(
            stack, name, demo_name, account.password, security_answer=account.security_answer
        )
    found.people["other"].personal_code = "Abilitato2026"  # enablement's demo data
    suffix = uuid.uuid4().hex[:6]
    for name, roles in (("operator_y", ["operator"]), ("security_officer", ["security_officer"])):
        username = f"matrix.{name.replace('_', '')}{suffix}"
        create_account(
            stack,
            username,
            roles=roles,
            codice_fiscale=registration_flow.Person.new().codice_fiscale,
            password=PASSWORD,
        )
        found.people[name] = sign_in(stack, name, username, PASSWORD, security_answer="Micio Tigre")
    # Enablement knows every person (IAM's facts over the bus) before the matrix starts.
    for who in found.people.values():
        wait_until(
            lambda who=who: (
                "personal_data"
                in (send(stack.url("/api/enablement/v1/enablement"), token=who.token).body or {})
            ),
            timeout=EMAIL_TIMEOUT,
        )
    assigned = ops_call(
        stack,
        found.ops_token,
        "enablement",
        "POST",
        "/api/enablement/v1/ops/operators",
        {"operator_id": found.people["operator_y"].account_id, "office_code": OFFICE_Y},
    )
    assert assigned.status == 201, assigned

    for name in ("user", "operator_x", "security_officer"):
        found.expired[name] = str(
            oidc_tokens.code_flow(
                stack,
                found.people[name].browser,
                client_id="matrix-short-user",
                secret=short_user_secret,
                redirect_uri=short_redirect,
            )["access_token"]
        )
    client_id, secret, redirect = PARTNER
    found.partner_token = str(
        oidc_tokens.code_flow(
            stack,
            found.people["user"].browser,
            client_id=client_id,
            secret=secret,
            redirect_uri=redirect,
            scope="openid profile email fiscal_number",
        )["access_token"]
    )
    return found
