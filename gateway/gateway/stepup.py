"""Per-address limits on credential forms and calls, with a proof-of-work step-up before any block.

A school office, a staff room or a provincial office is one address for hundreds of people, all at the same
deadline; guessing is stopped per account by IAM (iam/signin/bruteforce.py), not here. So an address has
three bands (docs/architecture.md, "Rate limits"), counted over every credential POST it sends:

- up to GATEWAY_RATELIMIT_AUTHENTICATION (the soft threshold): forwarded as it is;
- beyond it: forwarded only with a solved proof-of-work challenge (ALTCHA v1, SHA-256, the same scheme as
  IAM's captcha, iam/captcha/adapters.py) from GET /sicurezza/verifica. The challenge is signed with a key
  derived from the gateway's secret, expires, is bound to the address that fetched it and is accepted once.
  Browsers solve it in static/js/step-up.js and send it as the cookie `polis_pow`; API clients send it in
  the header X-Polis-Proof-Of-Work;
- beyond GATEWAY_RATELIMIT_AUTHENTICATION_BLOCK (far higher): refused until the window that was exceeded
  resets, with that wait stated (page in the user's language, or the JSON error shape, with Retry-After).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import altcha
from limits import RateLimitItem, parse, parse_many
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

log = logging.getLogger("gateway.stepup")

COOKIE = "polis_pow"
HEADER = "X-Polis-Proof-Of-Work"
ENVIRON_HEADER = "HTTP_X_POLIS_PROOF_OF_WORK"
CHALLENGE_PATH = "/sicurezza/verifica"
MAX_PROOF_LENGTH = 2048
ADDRESS_PARAM = "a"
BLOCKED_MESSAGE = "Too many credential attempts from this address: please wait and try again."
STEP_UP_MESSAGE = (
    f"Many credential attempts come from this address: solve the challenge of GET {CHALLENGE_PATH} and send "
    f"the solution in the {HEADER} header."
)

Band = Literal["pass", "step_up", "blocked"]


@dataclass(frozen=True)
class Decision:
    """What the guard says about one credential attempt; `retry_after` (seconds) when blocked."""

    band: Band
    retry_after: int = 0


class Windows:
    """Fixed-window counters: this process's own for memory:// (dev and tests), else the shared store.

    limits' MemoryStorage starts a timer thread every few milliseconds under load (gateway/api/proxy.py),
    so memory:// is counted here. When the shared store (Redis) does not answer, the limits fail open to
    this process's own counters (the same limits, counted per process) and the shared store is tried again
    every FALLBACK_RETRY seconds: a Redis outage neither takes the portal down nor lifts the bound on
    guessing (docs/architecture.md, "When Redis is down")."""

    FALLBACK_RETRY = 5.0

    def __init__(self, storage_uri: str, *, timeout: float = 2.0) -> None:
        self._shared = (
            None
            if storage_uri.startswith("memory://")
            else FixedWindowRateLimiter(
                storage_from_string(
                    storage_uri, wrap_exceptions=True, socket_timeout=timeout, socket_connect_timeout=timeout
                )
                if storage_uri.startswith(("redis://", "rediss://"))
                else storage_from_string(storage_uri, wrap_exceptions=True)
            )
        )
        self._lock = threading.Lock()
        self._local: dict[tuple[str, str, str], tuple[float, int]] = {}
        self._shared_down_until = 0.0  # monotonic: count locally until then

    def _use_shared(self) -> FixedWindowRateLimiter | None:
        if self._shared is None or time.monotonic() < self._shared_down_until:
            return None
        return self._shared

    def _shared_failed(self, error: StorageError) -> None:
        if self._shared_down_until == 0.0:
            log.warning("rate-limit store unreachable, counting in this process: %s", error.storage_error)
        self._shared_down_until = time.monotonic() + self.FALLBACK_RETRY

    def _shared_answered(self) -> None:
        if self._shared_down_until:
            log.warning("rate-limit store reachable again: shared counting resumes")
            self._shared_down_until = 0.0

    def hit(self, limit: RateLimitItem, prefix: str, key: str) -> bool:
        shared = self._use_shared()
        if shared is not None:
            try:
                passed = shared.hit(limit, prefix, key)
            except StorageError as error:
                self._shared_failed(error)
            else:
                self._shared_answered()
                return passed
        now = time.time()
        with self._lock:
            start, count = self._current(limit, prefix, key, now)
            if len(self._local) > 100_000:  # forget finished windows now and then
                self._local = {k: v for k, v in self._local.items() if now - v[0] < 3600 * 24}
            if count >= limit.amount:
                return False
            self._local[(prefix, key, str(limit))] = (start, count + 1)
            return True

    def test(self, limit: RateLimitItem, prefix: str, key: str) -> bool:
        """Whether one more hit would pass, without counting it."""
        shared = self._use_shared()
        if shared is not None:
            try:
                return shared.test(limit, prefix, key)
            except StorageError as error:
                self._shared_failed(error)
        with self._lock:
            return self._current(limit, prefix, key, time.time())[1] < limit.amount

    def reset_time(self, limit: RateLimitItem, prefix: str, key: str) -> float:
        """When the window of `limit` for `key` ends (epoch seconds)."""
        shared = self._use_shared()
        if shared is not None:
            try:
                return float(shared.get_window_stats(limit, prefix, key).reset_time)
            except StorageError as error:
                self._shared_failed(error)
        with self._lock:
            return self._current(limit, prefix, key, time.time())[0] + limit.get_expiry()

    def _current(self, limit: RateLimitItem, prefix: str, key: str, now: float) -> tuple[float, int]:
        start, count = self._local.get((prefix, key, str(limit)), (now, 0))
        return (now, 0) if now - start >= limit.get_expiry() else (start, count)


class CredentialGuard:
    """The three bands of one address (see the module's docstring), shared by pages and /api/ calls."""

    def __init__(self, config: dict[str, Any]) -> None:
        enabled = bool(config["RATELIMIT_ENABLED"])
        self.soft = parse_many(config["RATELIMIT_AUTHENTICATION"]) if enabled else []
        self.block = parse_many(config["RATELIMIT_AUTHENTICATION_BLOCK"]) if enabled else []
        self.ttl = int(config["RATELIMIT_STEP_UP_TTL"])
        self.max_number = int(config["RATELIMIT_STEP_UP_MAX_NUMBER"])
        self.windows = Windows(
            config["RATELIMIT_STORAGE_URI"], timeout=float(config.get("GATEWAY_CONNECT_TIMEOUT", 2.0))
        )
        self.prefix = f"{config['RATELIMIT_KEY_PREFIX']}/credentials"
        # One purpose, one key: a step-up challenge is never valid as anything else signed with SECRET_KEY.
        self._key = hmac.new(
            str(config["SECRET_KEY"]).encode(), b"polis-gateway/step-up/v1", hashlib.sha256
        ).hexdigest()
        # A used challenge is remembered at least as long as it lives (windows start at the first hit).
        self._once = parse(f"1 per {self.ttl + 60} seconds")

    # --- the bands -------------------------------------------------------------------------------------

    def required(self, address: str) -> bool:
        """Whether the next credential attempt from `address` needs a solved challenge."""
        return any(not self.windows.test(limit, f"{self.prefix}/soft", address) for limit in self.soft)

    def attempt(self, address: str, proof: str | None) -> Decision:
        """Count one credential attempt from `address` and say whether it goes on."""
        for limit in self.block:
            if not self.windows.hit(limit, f"{self.prefix}/block", address):
                reset = self.windows.reset_time(limit, f"{self.prefix}/block", address)
                return Decision("blocked", retry_after=max(1, int(reset - time.time()) + 1))
        within_soft = True
        for limit in self.soft:  # every limit counts the attempt, whichever is exceeded first
            within_soft = self.windows.hit(limit, f"{self.prefix}/soft", address) and within_soft
        if within_soft or self.redeem(address, proof):
            return Decision("pass")
        return Decision("step_up")

    # --- the proof of work -----------------------------------------------------------------------------

    def challenge(self, address: str) -> dict[str, Any]:
        """A new ALTCHA v1 challenge for `address`, expiring after the configured time."""
        options = altcha.ChallengeOptionsV1(
            algorithm="SHA-256",
            hmac_key=self._key,
            max_number=self.max_number,
            expires=datetime.now(UTC) + timedelta(seconds=self.ttl),
            params={ADDRESS_PARAM: self._address_tag(address)},
        )
        return altcha.create_challenge_v1(options).to_dict()

    def redeem(self, address: str, proof: str | None) -> bool:
        """True once for a solution of a live challenge of ours fetched from `address`."""
        if not proof or len(proof) > MAX_PROOF_LENGTH:
            return False
        try:
            ok, _error = altcha.verify_solution_v1(proof, self._key, check_expires=True)
            if not ok:
                return False
            payload = altcha.PayloadV1.from_base64(proof)
            _nonce, expires, params = payload.parse_salt()
        except (ValueError, TypeError, KeyError, AttributeError):
            return False
        if expires is None or params.get(ADDRESS_PARAM) != [self._address_tag(address)]:
            return False  # every challenge of ours expires and names its address
        return self.windows.hit(self._once, f"{self.prefix}/used", payload.signature)

    def _address_tag(self, address: str) -> str:
        return hmac.new(self._key.encode(), f"address:{address}".encode(), hashlib.sha256).hexdigest()[:32]


def form_home(path: str, referrer: str | None, host: str) -> str:
    """Where "back to the form" leads: the page the form was sent from (same site), else its entry."""
    if referrer:
        parts = urlsplit(referrer)
        # IAM's pages, and its authorization endpoint (it shows the login form of a request, issue 18).
        from_iam = parts.path.startswith("/iam/") or parts.path == "/oidc/authorize"
        if parts.netloc == host and from_iam and parts.scheme in ("http", "https"):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    if path.startswith(("/iam/accedi", "/iam/cambio-password")):
        return "/accedi"  # the login starts at the portal (a fresh authorization request)
    if path.startswith("/iam/registrazione"):
        return "/iam/registrazione"
    return path


def solve(challenge: dict[str, Any]) -> str | None:
    """The proof for `challenge` (what step-up.js computes in a browser), for API clients and benches."""
    solution = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxNumber"]
    )
    if solution is None:
        return None
    return altcha.PayloadV1(
        challenge["algorithm"],
        challenge["challenge"],
        solution.number,
        challenge["salt"],
        challenge["signature"],
    ).to_base64()
