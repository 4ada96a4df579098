"""Chaos (issue 17 item 1): a bounded mixed workload through the gateway while a driver kills processes, and
an audit of what every acknowledged request promised against what exists afterwards.

The workload: registrations (and their activation), logins, username and password recoveries, enablement
requests and their confirmation at an office, submissions of modello-d3 and withdrawals, and one small
revocation round. A user is one script of steps; a step the server answered with a 2xx is *acknowledged*
and records its promise (a row, a state, exactly one email of a kind). Steps that are safe to repeat
(logins, PUTs, a submission with its idempotency key) are retried while the system is down, as a client
would; the others are tried once: an attempt that got no 2xx is counted, never promised.

The driver kills -9 one process at a time (each service's web and worker, the notifier's sender, the
gateway) or restarts RabbitMQ, then starts again what it killed; a supervisor restarts whatever exited on
its own (as systemd or Kubernetes would) and counts it. The audit: acknowledged operations lost, promised
emails missing or duplicated (by Message-ID, by content, by promise), protocol numbers given twice, parked
messages with their reasons.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import http.client
import json
import os
import random
import signal
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from codicefiscale import codicefiscale
from polis.db import Database
from sqlalchemy import text
from support import registration_flow
from support.browser import Browser
from support.stack import SystemStack
from test_enablement_e2e import assign_operator, create_account, document
from test_istanze_submission_e2e import ANSWERS, CONTACTS
from test_login_e2e import PASSWORD, log_in
from test_registration_e2e import LINK, body_text
from test_revocation_e2e import add_account, deadline_in, enable, set_clock

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
OPS_TOKEN = "chaos-ops-token"
ROUNDS = "/api/iam/v1/ops/revocation-rounds"
CUTOFF = "2015-03-01"
ISTANZE = "/api/istanze/v1"
SUBMISSION = f"{ISTANZE}/applications/modello-d3/submission"
SECTION = f"{ISTANZE}/applications/modello-d3/sections/sedi"
PERSONAL_CODE = "Girasole2042"  # what test_revocation_e2e.enable gives
NEW_PASSWORD = "orologio ciliegia pianoforte vento"
# What each acknowledged step promises by email: a part of the subject (Italian templates of the notifier).
SUBJECTS = {
    "registration": "conferma la registrazione",
    "activation": "la registrazione è completa",
    "username_recovery": "il tuo nome utente",
    "password_recovery": "la tua password temporanea",
    "enablement_request": "richiesta di abilitazione",
    "enablement_confirmation": "abilitazione completata",
    "submission": "istanza inoltrata",
    "withdrawal": "istanza ritirata",
    "revocation_announced": "sarà revocata",
    "revocation_revoked": "stata revocata",
}
# Processes the driver kills -9, and the broker it restarts.
TARGETS = (
    "iam-web",
    "iam-worker",
    "enablement-web",
    "enablement-worker",
    "istanze-web",
    "istanze-worker",
    "notifier-web",
    "notifier-worker",
    "notifier-sender",
    "gateway",
    "rabbitmq",
)
STEP_RETRY_SECONDS = 120.0
EMAIL_WAIT_SECONDS = 180.0


class Transient(Exception):
    """The system could not answer (a process down): a client may try again."""


TRANSPORT_ERRORS = (
    urllib.error.URLError,
    ConnectionError,
    http.client.HTTPException,
    socket.timeout,
    OSError,
)


def _answer(error: urllib.error.HTTPError) -> tuple[int, Any]:
    raw = error.read()
    try:
        return error.code, json.loads(raw or b"null")
    except ValueError:
        return error.code, raw.decode(errors="replace")


def json_call(
    url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - the local stack
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the local stack
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return _answer(error)


def browser_call(browser: Browser, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A JSON call with the browser's session cookie through the gateway (any method)."""
    request = urllib.request.Request(  # noqa: S310 - the local stack
        urllib.parse.urljoin(browser.base, path),
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={**SAME_ORIGIN, "Content-Type": "application/json"},
    )
    try:
        with browser.opener.open(request, timeout=60) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw[:1] in (b"{", b"[") else raw
    except urllib.error.HTTPError as error:
        return _answer(error)


def once(fn: Callable[[], tuple[int, Any]]) -> tuple[int, Any]:
    """One attempt; a transport error or a 5xx is Transient (nothing acknowledged)."""
    try:
        status, body = fn()
    except TRANSPORT_ERRORS as error:
        raise Transient(repr(error)) from error
    if status >= 500:
        raise Transient(f"{status} {str(body)[:200]}")
    return status, body


def retried(fn: Callable[[], tuple[int, Any]], seconds: float = STEP_RETRY_SECONDS) -> tuple[int, Any]:
    """A step that is safe to repeat, tried until it gets an answer that is not Transient."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return once(fn)
        except Transient:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


# --- what the run records ---------------------------------------------------------------------------------


@dataclass
class Promise:
    """An acknowledged step: its kind, who, what it promised by email (address, subject part, marker)."""

    kind: str
    key: str
    email: tuple[str, str, str] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


@dataclass
class Ledger:
    attempts: Counter[str] = field(default_factory=Counter)
    acknowledged: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # a 4xx where a 2xx was expected
    unacknowledged: Counter[str] = field(default_factory=Counter)
    promises: list[Promise] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attempt(self, kind: str) -> None:
        with self.lock:
            self.attempts[kind] += 1

    def ack(self, promise: Promise) -> Promise:
        with self.lock:
            self.acknowledged[promise.kind] += 1
            self.promises.append(promise)
        return promise

    def fail(self, kind: str, why: str, *, refused: bool = False) -> None:
        with self.lock:
            (self.refused if refused else self.unacknowledged)[kind] += 1
            self.notes.append(f"{kind}: {why[:300]}")


# --- the people -------------------------------------------------------------------------------------------


def valid_cf(last: str, first: str, born: date, sex: str = "F") -> str:
    return str(codicefiscale.encode(last, first, sex, born.isoformat(), "Milano"))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    message_id: str


_INBOX: dict[Path, dict[int, Mail]] = {}
_INBOX_LOCK = threading.Lock()


def inbox(stack: SystemStack) -> list[Mail]:
    """Every message in the sink, in arrival order; each spool file is parsed once (the polls stay cheap,
    so waits and the drain time measure the system, not the parsing of a growing spool)."""
    spool = stack.smtp.spool
    with _INBOX_LOCK:
        seen = _INBOX.setdefault(spool, {})
        for path in spool.glob("*.eml"):
            number = int(path.stem)
            if number not in seen:
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                seen[number] = Mail(
                    str(message["To"]),
                    str(message["Subject"]),
                    body_text(message),
                    str(message["Message-ID"]),
                )
        return [seen[n] for n in sorted(seen)]


def fresh_email(stack: SystemStack, address: str, subject: str, marker: str = "") -> list[Mail]:
    return [
        m for m in inbox(stack) if address in m.to and subject in m.subject and marker in m.text + m.subject
    ]


def wait_email(
    stack: SystemStack, address: str, subject: str, marker: str = "", seconds: float = EMAIL_WAIT_SECONDS
) -> Mail | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = fresh_email(stack, address, subject, marker)
        if found:
            return found[0]
        time.sleep(0.5)
    return None


@dataclass
class Workload:
    """The sizes of one run."""

    registrations: int
    recoveries: int
    enablements: int
    submissions: int
    withdrawals: int  # of the submissions
    round_size: int
    threads: int = 4


class Chaos:
    """The stack, its people, the workload's scripts and the audit."""

    def __init__(self, stack: SystemStack, clock_file: Path, sizes: Workload, seed: int) -> None:
        self.stack = stack
        self.clock_file = clock_file
        self.sizes = sizes
        self.random = random.Random(seed)
        self.ledger = Ledger()
        self.tag = uuid.uuid4().hex[:6]
        self.recovery_users: list[tuple[str, str]] = []  # (username, cf)
        self.enablement_users: list[tuple[str, str]] = []
        self.submission_users: list[str] = []
        self.round_users: list[str] = []
        self.operator = f"chaos.operatore.{self.tag}"
        self.submitted: dict[str, tuple[Browser, str]] = {}  # username -> (session, protocol number)

    # -- setup (before any fault) --------------------------------------------------------------------------

    def prepare(self) -> None:
        """Accounts straight in IAM's database with their facts in its outbox (as registration leaves them);
        the submitters enabled in enablement's database; the round's accounts unused since 2014."""
        born = date(1950, 1, 1)
        day = iter(range(10_000))
        for index in range(self.sizes.recoveries):
            username = f"chaos.rec{index}.{self.tag}"
            cf = valid_cf("Verdi", "Lucia", born + timedelta(days=next(day) * 37))
            create_account(self.stack, username, codice_fiscale=cf)
            self.recovery_users.append((username, cf))
        for index in range(self.sizes.enablements):
            username = f"chaos.ena{index}.{self.tag}"
            cf = valid_cf("Verdi", "Lucia", born + timedelta(days=next(day) * 37))
            create_account(self.stack, username, codice_fiscale=cf)
            self.enablement_users.append((username, cf))
        operator_id = create_account(self.stack, self.operator, roles=["operator"])
        assign_operator(self.stack, operator_id, "RMIC8AB00X")
        now = datetime.now(UTC)
        submitters = []
        for index in range(self.sizes.submissions):
            username = f"chaos.ist{index}.{self.tag}"
            submitters.append(
                (username, add_account(self.stack, username, last_access_at=now, created_at=now))
            )
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda pair: enable(self.stack, pair[1], pair[0]), submitters))
        self.submission_users = [name for name, _ in submitters]
        for index in range(self.sizes.round_size):
            username = f"chaos.rev{index}.{self.tag}"
            add_account(self.stack, username)
            self.round_users.append(username)

    # -- steps ---------------------------------------------------------------------------------------------

    def step(
        self, kind: str, call: Callable[[], tuple[int, Any]], expected: int, *, retry: bool = False
    ) -> Any | None:
        """One step: its answer's body when it is `expected` (acknowledged; the caller records the promise),
        else None with the attempt counted as unacknowledged (no answer) or refused (a 4xx)."""
        self.ledger.attempt(kind)
        try:
            status, body = retried(call) if retry else once(call)
        except Transient as error:
            self.ledger.fail(kind, str(error))
            return None
        if status != expected:
            self.ledger.fail(kind, f"{status} {body}", refused=True)
            return None
        return body

    def login(self, username: str, password: str = PASSWORD) -> Browser | None:
        """Logs in through the gateway (retried: a login is safe to repeat); None if never acknowledged."""
        self.ledger.attempt("login")
        started = time.time()
        deadline = time.monotonic() + STEP_RETRY_SECONDS
        last = ""
        while time.monotonic() < deadline:
            browser = Browser(self.stack.url())
            try:
                status, _, page = log_in(browser, username, password)
            except (AssertionError, *TRANSPORT_ERRORS) as error:
                last = repr(error)[:200]
                time.sleep(0.5)
                continue
            if status == 200:
                self.ledger.ack(Promise("login", username, data={"since": started}))
                return browser
            last = f"{status} {page[:200]}"
            if status < 500:
                break
            time.sleep(0.5)
        self.ledger.fail("login", f"{username}: {last}", refused=last[:1] == "4")
        return None

    def register(self, activate: bool = True) -> None:
        kind = "registration"
        address = f"chaos.reg.{uuid.uuid4().hex[:10]}@example.org"
        self.ledger.attempt(kind)
        try:
            status, answer = registration_flow.register(self.stack, address)
        except (AssertionError, *TRANSPORT_ERRORS) as error:
            self.ledger.fail(kind, repr(error))
            return
        if status != 202:
            self.ledger.fail(kind, f"{status} {answer}", refused=status < 500)
            return
        self.ledger.ack(Promise(kind, address, (address, SUBJECTS[kind], "")))
        if not activate:
            return
        mail = wait_email(self.stack, address, SUBJECTS[kind])
        if mail is None:
            return  # the audit counts it lost
        token = LINK.search(mail.text).group(2)  # type: ignore[union-attr]
        kind = "activation"
        activation = {"token": token, "password": NEW_PASSWORD}
        activated = self.step(
            kind,
            lambda: registration_flow.call(
                self.stack, "POST", f"{registration_flow.API}/activation", activation
            ),
            200,
        )
        if activated is None:
            return
        username = activated["username"]
        self.ledger.ack(Promise(kind, username, (address, SUBJECTS[kind], username), {"address": address}))
        self.login(username, NEW_PASSWORD)

    def recover(self, username: str, cf: str) -> None:
        for kind, path, body in (
            ("username_recovery", "/api/iam/v1/recovery/username", {"codice_fiscale": cf}),
            (
                "password_recovery",
                "/api/iam/v1/recovery/password",
                {"username": username, "codice_fiscale": cf},
            ),
        ):
            try:
                captcha = retried(lambda: (200, registration_flow.solved_captcha(self.stack)))[1]
            except (Transient, AssertionError) as error:
                self.ledger.attempt(kind)
                self.ledger.fail(kind, f"captcha: {error!r}")
                continue
            answer = self.step(
                kind,
                lambda body=body, path=path, captcha=captcha: registration_flow.call(
                    self.stack, "POST", path, {**body, "captcha": captcha}
                ),
                202,
            )
            if answer is None:
                continue
            address = f"{username}@example.org"
            marker = username if kind == "username_recovery" else ""
            self.ledger.ack(Promise(kind, username, (address, SUBJECTS[kind], marker)))
            # One recovery email at a time per account: the next one is asked once this one arrived.
            wait_email(self.stack, address, SUBJECTS[kind])

    def enablement(self, username: str, cf: str) -> None:
        user = self.login(username)
        if user is None:
            return
        kind = "enablement_request"
        asked = {"codice_fiscale": cf, "data_confirmed": True}
        body = self.step(kind, lambda: browser_call(user, "POST", "/api/enablement/v1/requests", asked), 201)
        if body is None:
            return
        number = body["number"]
        address = f"{username}@example.org"
        self.ledger.ack(Promise(kind, number, (address, SUBJECTS[kind], ""), {"username": username}))
        operator = self.login(self.operator)
        if operator is None:
            return
        try:
            status, found = retried(
                lambda: browser_call(operator, "GET", f"/api/enablement/v1/operator/requests?number={number}")
            )
            offices = retried(lambda: browser_call(operator, "GET", "/api/enablement/v1/operator/offices"))[1]
        except Transient as error:
            self.ledger.notes.append(f"operator lookup of {number}: {error}")
            return
        if status != 200:
            self.ledger.notes.append(f"operator lookup of {number}: {status} {found}")
            return
        kind = "enablement_confirmation"
        confirm = f"/api/enablement/v1/operator/requests/{found['id']}/confirm"
        office_id = offices["offices"][0]["id"]
        if self.step(kind, lambda: browser_call(operator, "POST", confirm, document(office_id)), 200) is None:
            return
        self.ledger.ack(Promise(kind, number, (address, SUBJECTS[kind], ""), {"username": username}))

    def submit(self, username: str, withdraw: bool) -> None:
        user = self.login(username)
        if user is None:
            return
        try:
            for path, body in (
                (f"{ISTANZE}/profile", {"staff_category": "ata"}),
                (f"{ISTANZE}/contacts", CONTACTS),
                (SECTION, ANSWERS),
            ):
                status, answer = retried(lambda path=path, body=body: browser_call(user, "PUT", path, body))
                if status != 200:
                    self.ledger.notes.append(f"draft of {username}: {path} {status} {answer}")
                    return
        except Transient as error:
            self.ledger.notes.append(f"draft of {username}: {error}")
            return
        kind = "submission"
        click = {"personal_code": PERSONAL_CODE, "key": uuid.uuid4().hex}  # retried with its key (D-IST-3)
        body = self.step(kind, lambda: browser_call(user, "POST", SUBMISSION, click), 200, retry=True)
        if body is None:
            return
        number = body["protocol_number"]
        address = f"{username}@example.org"
        self.ledger.ack(Promise(kind, number, (address, SUBJECTS[kind], number), {"username": username}))
        self.submitted[username] = (user, number)
        if withdraw:
            self.withdraw(username)

    def withdraw(self, username: str) -> None:
        user, number = self.submitted.pop(username)
        address = f"{username}@example.org"
        kind = "withdrawal"
        if self.step(kind, lambda: browser_call(user, "DELETE", SUBMISSION), 200) is None:
            return
        self.ledger.ack(Promise(kind, number, (address, SUBJECTS[kind], number), {"username": username}))

    def revocation_round(self) -> None:
        """A round over the unused accounts: created, previewed, announced; the deadline passes (the test
        clock of IAM's processes); IAM's worker revokes. Each ops call is acknowledged or not."""
        kind = "revocation_round"
        self.ledger.attempt(kind)

        def ops(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
            return json_call(
                self.stack.api("iam", ROUNDS + path), method, body, {"Authorization": f"Bearer {OPS_TOKEN}"}
            )

        try:
            status, created = once(lambda: ops("POST", "", {"cutoff": CUTOFF, "deadline": deadline_in(40)}))
            if status != 201 and status != 200:
                self.ledger.fail(kind, f"create {status} {created}", refused=True)
                return
            round_id = created["id"]
            status, preview = retried(lambda: ops("POST", f"/{round_id}/preview"))
            status, announced = retried(lambda: ops("POST", f"/{round_id}/announce"))
        except Transient as error:
            self.ledger.fail(kind, str(error))
            return
        if status != 200:
            self.ledger.fail(kind, f"announce {status} {announced}", refused=True)
            return
        for username in self.round_users:
            self.ledger.ack(
                Promise(
                    "revocation_announced",
                    username,
                    (f"{username}@example.org", SUBJECTS["revocation_announced"], ""),
                )
            )
        self.ledger.ack(Promise(kind, str(round_id), data={"affected": preview.get("affected")}))
        # The deadline passes once every notice is out (the worker sends them in small batches).
        deadline = time.monotonic() + EMAIL_WAIT_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(Transient):
                if retried(lambda: ops("GET", f"/{round_id}"))[1]["counts"]["announced"] >= len(
                    self.round_users
                ):
                    break
            time.sleep(0.5)
        set_clock(self.clock_file, 41)
        deadline = time.monotonic() + EMAIL_WAIT_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(Transient):
                if retried(lambda: ops("GET", f"/{round_id}"))[1]["state"] == "done":
                    for username in self.round_users:
                        self.ledger.ack(
                            Promise(
                                "revocation_revoked",
                                username,
                                (f"{username}@example.org", SUBJECTS["revocation_revoked"], ""),
                            )
                        )
                    return
            time.sleep(0.5)
        self.ledger.notes.append(f"round {round_id} not done within {EMAIL_WAIT_SECONDS:.0f}s")

    def scripts(self) -> list[Callable[[], None]]:
        jobs: list[Callable[[], None]] = [self.register for _ in range(self.sizes.registrations)]
        jobs += [lambda u=u, c=c: self.recover(u, c) for u, c in self.recovery_users]
        jobs += [lambda u=u, c=c: self.enablement(u, c) for u, c in self.enablement_users]
        jobs += [
            lambda u=u, w=(i < self.sizes.withdrawals): self.submit(u, w)
            for i, u in enumerate(self.submission_users)
        ]
        self.random.shuffle(jobs)
        if self.round_users:
            jobs.insert(len(jobs) // 3, self.revocation_round)
        return jobs

    def run_workload(self, seconds: float) -> None:
        """The scripts, started evenly over `seconds` (so that the faults meet all of them)."""
        jobs = self.scripts()
        began = time.monotonic()

        def safely(indexed: tuple[int, Callable[[], None]]) -> None:
            index, job = indexed
            time.sleep(max(began + index * seconds / len(jobs) - time.monotonic(), 0.0))
            try:
                job()
            except Exception as error:
                self.ledger.notes.append(f"script error: {error!r}")

        with ThreadPoolExecutor(self.sizes.threads) as pool:
            list(pool.map(safely, enumerate(jobs)))


# --- the fault driver -------------------------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


@dataclass
class Driver:
    """Kills -9 one process at a time (or restarts the broker) and starts it again; a supervisor restarts
    whatever exits on its own."""

    stack: SystemStack
    seed: int
    faults: Counter[str] = field(default_factory=Counter)
    self_exits: Counter[str] = field(default_factory=Counter)
    events: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    def supervise(self) -> None:
        """Restart what exited without being asked (a worker that lost its broker, a sender's parent)."""
        with self.lock:
            for process in self.stack.unexpected_exits():
                self.self_exits[process.name] += 1
                self.events.append(f"{time.strftime('%H:%M:%S')} {process.name} exited {process.returncode}")
                with contextlib.suppress(Exception):
                    self.stack.start_process(process.name, timeout=90)

    def inject(self, target: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with self.lock:
            if target == "rabbitmq":
                self.stack.rabbitmq.restart()
            elif target == "notifier-sender":
                worker = self.stack.process("notifier-worker")
                senders = children_of(worker.pid) if worker.pid else []
                for child in senders:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child, signal.SIGKILL)
                # The worker stops when its sender dies (notifier.worker): its supervisor starts it again.
                deadline = time.monotonic() + 30
                while worker.running and time.monotonic() < deadline:
                    time.sleep(0.1)
                if worker.running:
                    self.events.append(f"{stamp} notifier-worker still running 30 s after its sender died")
                    self.stack.kill("notifier-worker")
                else:
                    worker.expected_exit = True
                self.stack.start_process("notifier-worker", timeout=90)
                if not senders:
                    self.events.append(f"{stamp} notifier-worker had no sender child")
            else:
                self.stack.kill(target)
                time.sleep(self.random.uniform(0.2, 2.0))
                self.stack.start_process(target, timeout=90)
            self.faults[target] += 1
            self.events.append(f"{stamp} {target}")

    def plan(self, count: int, must: Iterable[str] = ()) -> list[str]:
        """`count` targets: every one of `must` once, the rest at random, in a random order."""
        chosen = list(must)[:count]
        chosen += [self.random.choice(TARGETS) for _ in range(count - len(chosen))]
        self.random.shuffle(chosen)
        return chosen

    def run(self, plan: list[str], interval: tuple[float, float], done: threading.Event) -> None:
        """Inject the plan's faults `interval` seconds apart; then supervise until the workload is done."""
        for target in plan:  # the whole plan, even if the workload ends first: its backlog meets faults too
            end = time.monotonic() + self.random.uniform(*interval)
            while time.monotonic() < end:
                self.supervise()
                time.sleep(0.25)
            try:
                self.inject(target)
            except Exception as error:
                self.events.append(f"{target}: the fault's restart failed: {error!r}"[:400])
        while not done.is_set():
            self.supervise()
            time.sleep(0.25)

    def settle(self, seconds: float = 120.0) -> None:
        """Everything up again: the broker, every process ready."""
        if not self.stack.rabbitmq.running:
            self.stack.rabbitmq.start().wait_ready()
        deadline = time.monotonic() + seconds
        for process in self.stack.long_running():
            if not process.running:
                self.supervise()
            process.wait_ready(max(deadline - time.monotonic(), 1.0))


# --- the audit ----------------------------------------------------------------------------------------------


def matching(stack: SystemStack, promise: Promise) -> list[Mail]:
    assert promise.email is not None
    address, subject, marker = promise.email
    return fresh_email(stack, address, subject, marker)


def parked_messages(stack: SystemStack) -> dict[str, list[str]]:
    """What lies in each service's parking queue and in polis.unrouted, with the reason it was parked."""
    import pika
    from polis.events.broker import HEADER_PARKED_REASON, parking_queue

    found: dict[str, list[str]] = {}
    connection = pika.BlockingConnection(pika.URLParameters(stack.broker_url))
    try:
        for queue in [parking_queue(s) for s in ("iam", "enablement", "istanze", "notifier")] + [
            "polis.unrouted"
        ]:
            channel = connection.channel()
            try:
                channel.queue_declare(queue, passive=True)
            except pika.exceptions.ChannelClosedByBroker:
                continue
            reasons = []
            while True:
                method, properties, _body = channel.basic_get(queue, auto_ack=True)
                if method is None:
                    break
                headers = properties.headers or {}
                reason = headers.get(HEADER_PARKED_REASON, "(no reason)")
                reasons.append(f"{properties.type or '?'} {properties.message_id}: {reason}"[:300])
            channel.close()
            if reasons:
                found[queue] = reasons
    finally:
        connection.close()
    return found


@dataclass
class Audit:
    lost_operations: list[str] = field(default_factory=list)
    lost_emails: list[str] = field(default_factory=list)
    duplicate_emails: list[str] = field(default_factory=list)
    duplicate_message_ids: int = 0
    duplicate_contents: int = 0
    duplicate_protocol_numbers: list[int] = field(default_factory=list)
    parked: dict[str, list[str]] = field(default_factory=dict)
    emails_total: int = 0
    drain_seconds: float = 0.0


def wait_drained(stack: SystemStack, promises: list[Promise], seconds: float) -> float:
    """Seconds until every promised email is in the sink (or `seconds` passed)."""
    started = time.monotonic()
    wanted = [p for p in promises if p.email is not None]
    while time.monotonic() - started < seconds:
        if all(matching(stack, p) for p in wanted):
            break
        time.sleep(0.5)
    return time.monotonic() - started


def audit(stack: SystemStack, ledger: Ledger, drain_timeout: float = 180.0) -> Audit:
    result = Audit()
    result.drain_seconds = wait_drained(stack, ledger.promises, drain_timeout)
    # Late duplicates would come now: give the senders and relays a moment to misbehave, then count.
    time.sleep(3)
    messages = inbox(stack)
    result.emails_total = len(messages)
    ids = Counter(m.message_id for m in messages)
    result.duplicate_message_ids = sum(n - 1 for n in ids.values() if n > 1)
    contents = Counter((m.to, m.subject, m.text) for m in messages)
    result.duplicate_contents = sum(n - 1 for n in contents.values() if n > 1)
    for promise in ledger.promises:
        if promise.email is None:
            continue
        found = matching(stack, promise)
        if not found:
            result.lost_emails.append(f"{promise.kind} {promise.key} -> {promise.email}")
        elif len(found) > 1:
            result.duplicate_emails.append(f"{promise.kind} {promise.key}: {len(found)} emails")

    # Plain SQL: the audit reads the tables as they are, not through the services' code.
    def rows(service: str, query: str) -> list[Any]:
        database = Database(stack.database_url(service))
        try:
            with database.transaction() as session:
                return list(session.execute(text(query)).all())
        finally:
            database.dispose()

    account_rows = rows("iam", "SELECT username, personal_email, state, last_access_at FROM accounts")
    # Awaiting confirmation an account has no username yet.
    accounts = {a.username: a for a in account_rows if a.username}
    by_email = {a.personal_email: a for a in account_rows}
    requests = {r.number: r for r in rows("enablement", "SELECT number, state FROM enablement_requests")}
    receipts = rows("istanze", "SELECT protocol_year, protocol_number, withdrawn_at FROM receipts")
    numbers = Counter((r.protocol_year, r.protocol_number) for r in receipts)
    receipt_of = {f"{r.protocol_number:07d}": r for r in receipts}
    withdrawn = {
        f"{w.protocol_number:07d}" for w in rows("istanze", "SELECT protocol_number FROM withdrawals")
    }
    result.duplicate_protocol_numbers = sorted(n for (_, n), count in numbers.items() if count > 1)
    acked_numbers = Counter(p.key for p in ledger.promises if p.kind == "submission")
    result.duplicate_protocol_numbers += sorted(int(n) for n, count in acked_numbers.items() if count > 1)

    def lost(promise: Promise, why: str) -> None:
        result.lost_operations.append(f"{promise.kind} {promise.key}: {why}")

    for promise in ledger.promises:
        if promise.kind == "registration" and promise.key not in by_email:
            lost(promise, "no account with this personal email")
        elif promise.kind == "activation" and (
            promise.key not in accounts or str(accounts[promise.key].state) != "active"
        ):
            lost(promise, "account not active")
        elif promise.kind == "login":
            account = accounts.get(promise.key)
            last = account.last_access_at if account else None
            if (
                last is None
                or last.replace(tzinfo=last.tzinfo or UTC).timestamp() < promise.data["since"] - 2
            ):
                lost(promise, f"last access {last} before the login")
        elif promise.kind == "enablement_request" and promise.key not in requests:
            lost(promise, "no such request")
        elif promise.kind == "enablement_confirmation" and (
            promise.key not in requests or requests[promise.key].state != "confirmed"
        ):
            state = requests[promise.key].state if promise.key in requests else None
            lost(promise, f"request in state {state}")
        elif promise.kind == "submission" and promise.key not in receipt_of:
            lost(promise, "no receipt with this protocol number")
        elif promise.kind == "withdrawal" and (
            promise.key not in withdrawn
            or receipt_of.get(promise.key) is None
            or not receipt_of[promise.key].withdrawn_at
        ):
            lost(promise, "not withdrawn")
        elif promise.kind == "revocation_revoked" and (
            promise.key not in accounts or str(accounts[promise.key].state) != "revoked"
        ):
            lost(promise, "account not revoked")
    result.parked = parked_messages(stack)
    return result


def figures(title: str, ledger: Ledger, driver: Driver | None, result: Audit, elapsed: float) -> str:
    kinds = sorted(set(ledger.attempts) | set(ledger.acknowledged))
    lines = [f"== {title} ({elapsed:.0f} s) =="]
    lines.append(f"{'operation':26} {'tried':>6} {'acked':>6} {'no ack':>6} {'refused':>7}")
    for kind in kinds:
        lines.append(
            f"{kind:26} {ledger.attempts[kind]:6} {ledger.acknowledged[kind]:6} "
            f"{ledger.unacknowledged[kind]:6} {ledger.refused[kind]:7}"
        )
    acked = sum(ledger.acknowledged.values())
    lines.append(f"acknowledged operations: {acked} (promises checked: {len(ledger.promises)})")
    if driver is not None:
        lines.append(f"faults injected: {sum(driver.faults.values())} {dict(sorted(driver.faults.items()))}")
        lines.append(f"exits on their own (restarted): {dict(sorted(driver.self_exits.items()))}")
    lines.append(f"lost operations: {len(result.lost_operations)}; lost emails: {len(result.lost_emails)}")
    lines.append(
        f"duplicate emails: by promise {len(result.duplicate_emails)}, by Message-ID "
        f"{result.duplicate_message_ids}, by content {result.duplicate_contents}"
    )
    lines.append(f"duplicate protocol numbers: {len(result.duplicate_protocol_numbers)}")
    lines.append(f"emails in the sink: {result.emails_total}; drain time: {result.drain_seconds:.1f} s")
    parked = sum(len(v) for v in result.parked.values())
    lines.append(f"parked messages: {parked}")
    for queue, reasons in result.parked.items():
        lines += [f"  {queue}: {reason}" for reason in reasons]
    for name, items in (
        ("lost operation", result.lost_operations),
        ("lost email", result.lost_emails),
        ("duplicate", result.duplicate_emails),
    ):
        lines += [f"  {name}: {item}" for item in items]
    if ledger.notes:
        lines.append(f"notes ({len(ledger.notes)}):")
        lines += [f"  {note}" for note in ledger.notes[:40]]
    if driver is not None and driver.events:
        lines.append("faults: " + "; ".join(driver.events))
    return "\n".join(lines)
