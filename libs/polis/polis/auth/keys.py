"""IAM's public signing keys (its JWKS), from a key source, cached: the one JWKS cache of the project.

The source is IAM's internal address over HTTP for every service and the gateway (`http_jwks`), or, for IAM
itself, its own key table read locally (any callable returning the JWKS document: no HTTP call to itself).

The cache is refreshed when it is older than `max_age` (a rotation published a new key), and at once when a
token names a key id it does not know (a key that started signing since the last fetch) — but at most once
every `min_refresh_interval` seconds, so a flood of tokens with made-up key ids cannot turn a service into a
load generator against IAM. An IAM that does not answer leaves the last good keys in use.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from polis.auth.errors import KeysUnavailable

log = logging.getLogger("polis.auth")

VerificationKey = ECKey | RSAKey


class KeySource(Protocol):
    """Where a JwksCache reads the key set: returns a JWKS document, raises KeysUnavailable when it cannot."""

    def __call__(self) -> Mapping[str, Any]: ...


JwksSource = KeySource  # the earlier name
MAX_JWKS_BYTES = 256 * 1024
MIN_RSA_BITS = 2048


def static_jwks(document: Mapping[str, Any]) -> KeySource:
    """A fixed key set (tests, and settings that give the JWKS itself)."""
    fixed = dict(document)
    return lambda: fixed


def http_jwks(url: str, *, timeout: float = 3.0) -> KeySource:
    """A JWKS source reading `url` (IAM's internal address): the standard library is enough for a call a
    few times an hour."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"the JWKS URL must be http(s), not {url!r}")

    def fetch() -> Mapping[str, Any]:
        # S310: the URL is a setting (IAM's internal address), checked to be http(s) below.
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                body = response.read(MAX_JWKS_BYTES + 1)
        except (urllib.error.URLError, OSError) as error:
            raise KeysUnavailable() from error
        if len(body) > MAX_JWKS_BYTES:
            raise KeysUnavailable()
        try:
            document = json.loads(body)
        except ValueError as error:
            raise KeysUnavailable() from error
        if not isinstance(document, dict):
            raise KeysUnavailable()
        return document

    return fetch


def parse_jwks(document: Mapping[str, Any]) -> dict[str, VerificationKey]:
    """The usable verification keys by key id: EC P-256 and RSA (2048 bits or more) public keys meant for
    signatures. Anything else in the set (a symmetric key, an encryption key, a key without id) is left out,
    so it can never verify a token."""
    keys: dict[str, VerificationKey] = {}
    entries = document.get("keys")
    if not isinstance(entries, list):
        return keys
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or entry.get("use", "sig") != "sig":
            continue
        if any(name in entry for name in ("d", "p", "q", "k")):
            continue  # private or symmetric material has no place in a published key set
        try:
            if entry.get("kty") == "EC" and entry.get("crv") == "P-256":
                keys[kid] = ECKey.import_key(dict(entry))
            elif entry.get("kty") == "RSA":
                key = RSAKey.import_key(dict(entry))
                if key.public_key.key_size >= MIN_RSA_BITS:
                    keys[kid] = key
        except (JoseError, ValueError, TypeError):
            log.warning("JWKS entry %s could not be read", kid)
    return keys


class JwksCache:
    """Keys by id from a key source; thread-safe (gunicorn threads share one cache, and one refresh at a
    time reaches the source: the others wait for its outcome instead of fetching again)."""

    def __init__(
        self,
        source: KeySource,
        *,
        max_age: float = 300.0,
        min_refresh_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._max_age = max_age
        self._min_interval = min_refresh_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, VerificationKey] | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self.fetches = 0  # how many times the source was asked (metrics, tests)

    def key(self, kid: str) -> VerificationKey | None:
        """The key with this id, refreshing the set when it is old or does not know the id."""
        with self._lock:
            now = self._clock()
            if self._keys is None or now - self._fetched_at >= self._max_age:
                self._refresh(now)
            if self._keys is None:
                raise KeysUnavailable()
            key = self._keys.get(kid)
            if key is None and self._may_refresh(now):
                self._refresh(now)
                key = self._keys.get(kid)
            return key

    def _may_refresh(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._min_interval

    def _refresh(self, now: float) -> None:
        if not self._may_refresh(now):
            return
        self._attempted_at = now
        self.fetches += 1
        try:
            document = self._source()
        except KeysUnavailable:
            log.warning(
                "IAM's JWKS could not be fetched; %s", "keeping the last keys" if self._keys else "none yet"
            )
            return
        self._keys = parse_jwks(document)
        self._fetched_at = now
