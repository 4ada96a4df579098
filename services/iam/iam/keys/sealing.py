"""Sealing of the token signing keys at rest and their settings (IAM_KEY_ENCRYPTION_KEY, IAM_OIDC_KEY_*).

Encryption at rest: the private JWK is stored as "v1:<kek fingerprint>:<base64url(nonce | AES-256-GCM
ciphertext)>", sealed with the key-encryption key IAM_KEY_ENCRYPTION_KEY and the kid as associated data
(a blob copied to another row does not open). The setting is a comma-separated ring of base64url 32-byte
keys: the first seals, all of them open, which lets the KEK itself be rotated (`oidc-keys reseal`).
Rows written in clear before issue 5 are still read, once, and sealed in place at that first read
(iam.keys.service).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app, has_app_context
from joserfc.jwk import ECKey, RSAKey
from polis.config import ConfigError, Secret
from polis.errors import ApiError

log = logging.getLogger("iam.oidc.keys")

ALG = "ES256"  # the default: access tokens, and ID tokens of clients that do not ask for RS256
ALGORITHMS = ("ES256", "RS256")
RSA_BITS = 3072  # NIST's size for use beyond 2030; signing costs ~0.7 ms, generating ~0.2-1 s
SigningJwk = ECKey | RSAKey

SCHEME = "v1"
_AAD = b"polis-iam-oidc-signing-key:"
# The longest token a key signs besides access tokens (clients' access_token_ttl is read at rotation):
# ID tokens live 5 minutes and logout tokens 2; retention never goes below this floor.
MIN_RETENTION = timedelta(minutes=5)

# Settings names (iam.config) and what a process falls back to when none is configured.
KEK_SETTING = "KEY_ENCRYPTION_KEY"
KEK_ENV = "IAM_KEY_ENCRYPTION_KEY"


class KeyUnavailable(ApiError):
    """A signing key cannot be used: its sealed private part does not open with the configured KEK."""

    status = 503
    code = "signing_key_unavailable"
    message = "The token signing key is not available; the service needs its operators."


# --- settings ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeySettings:
    """How keys are sealed and rotated (IAM_KEY_ENCRYPTION_KEY, IAM_OIDC_KEY_* settings)."""

    keks: tuple[bytes, ...] = field(repr=False)  # the first seals, every one opens
    publish_lead: timedelta
    retention: timedelta
    rotation: timedelta

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> KeySettings:
        lead = float(config.get("OIDC_KEY_PUBLISH_LEAD_SECONDS", 3600))
        retention = float(config.get("OIDC_KEY_RETENTION_SECONDS", 24 * 3600))
        days = float(config.get("OIDC_KEY_ROTATION_DAYS", 30))
        if lead < 0 or retention < 0:
            raise ConfigError("IAM_OIDC_KEY_PUBLISH_LEAD_SECONDS and _RETENTION_SECONDS must not be negative")
        if days <= 0:
            raise ConfigError("IAM_OIDC_KEY_ROTATION_DAYS must be positive")
        return cls(
            keks=parse_keks(config.get(KEK_SETTING)),
            publish_lead=timedelta(seconds=lead),
            retention=timedelta(seconds=retention),
            rotation=timedelta(days=days),
        )


def parse_keks(value: Secret | str | None) -> tuple[bytes, ...]:
    """The KEK ring from its setting: base64url (or base64) 32-byte keys, comma-separated, newest first.

    Errors name the setting and the position, never the value."""
    raw = value.reveal() if isinstance(value, Secret) else (value or "")
    items = [item.strip() for item in raw.split(",")]
    if not raw.strip() or not all(items):
        raise ConfigError(
            f"{KEK_ENV} is required: 32 random bytes in base64url, comma-separated when rotating"
        )
    keks = []
    for position, item in enumerate(items, start=1):
        normalized = item.replace("+", "-").replace("/", "_").rstrip("=")  # base64 from openssl works too
        if not re.fullmatch(r"[A-Za-z0-9_-]{43}", normalized):  # exactly 32 bytes
            raise ConfigError(
                f"{KEK_ENV} item {position} is not 32 bytes in base64url "
                '(python3 -c "import secrets; print(secrets.token_urlsafe(32))")'
            )
        keks.append(base64.urlsafe_b64decode(normalized + "="))
    return tuple(keks)


_settings: KeySettings | None = None


def configure(settings: KeySettings) -> None:
    """Set this process's key settings (register_oidc for the web app, the worker's loop for itself)."""
    global _settings
    _settings = settings


def current_settings() -> KeySettings:
    if _settings is not None:
        return _settings
    if has_app_context():
        return KeySettings.from_config(current_app.config)
    raise RuntimeError("iam.keys is not configured: call keys.configure(KeySettings.from_config(...))")


# --- sealing -------------------------------------------------------------------------------------------


def kek_fingerprint(kek: bytes) -> str:
    """A short, non-secret name of a KEK (an HMAC under the key itself): which KEK sealed a row."""
    return hmac.new(kek, b"polis-iam-kek-fingerprint", hashlib.sha256).hexdigest()[:8]


def seal(private_jwk: Mapping[str, Any], *, kid: str, kek: bytes) -> str:
    """Encrypt a private JWK for the row of `kid`: a fresh 96-bit nonce each time, the kid bound as AAD."""
    nonce = os.urandom(12)
    plaintext = json.dumps(dict(private_jwk), separators=(",", ":"), sort_keys=True).encode()
    sealed = AESGCM(kek).encrypt(nonce, plaintext, _AAD + kid.encode())
    blob = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
    return f"{SCHEME}:{kek_fingerprint(kek)}:{blob}"


def is_sealed(stored: str) -> bool:
    return stored.startswith(SCHEME + ":")


def sealed_with(stored: str) -> str:
    """Which KEK sealed a stored value (its fingerprint), "clear" for a row from before issue 5."""
    if not is_sealed(stored):
        return "clear"
    return stored.split(":", 2)[1]


def unseal(stored: str, *, kid: str, keks: Sequence[bytes]) -> dict[str, Any]:
    """The private JWK of a stored value; KeyUnavailable when no configured KEK opens it."""
    if stored.lstrip().startswith("{"):  # written in clear before issue 5
        return _as_jwk(stored, kid)
    scheme, _, rest = stored.partition(":")
    fingerprint, _, blob = rest.partition(":")
    if scheme != SCHEME or not blob:
        raise _unavailable(kid, "unknown sealing scheme")
    kek = next((kek for kek in keks if hmac.compare_digest(kek_fingerprint(kek), fingerprint)), None)
    if kek is None:
        raise _unavailable(kid, f"sealed with a key-encryption key that is not configured ({fingerprint})")
    try:
        raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        plaintext = AESGCM(kek).decrypt(raw[:12], raw[12:], _AAD + kid.encode())
    except (InvalidTag, binascii.Error, ValueError):
        raise _unavailable(kid, "does not open: tampered, or sealed for another row") from None
    return _as_jwk(plaintext.decode(), kid)


def _as_jwk(serialized: str, kid: str) -> dict[str, Any]:
    try:
        value = json.loads(serialized)
    except ValueError:
        raise _unavailable(kid, "not a JWK") from None
    if not isinstance(value, dict):
        raise _unavailable(kid, "not a JWK")
    return value


def _unavailable(kid: str, reason: str) -> KeyUnavailable:
    # For the operators: which key and why (never a secret). The user sees KeyUnavailable's message.
    log.error("oidc signing key cannot be used", extra={"kid": kid, "reason": reason})
    return KeyUnavailable()
