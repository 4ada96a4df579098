"""Secrets sealed for one recipient: X25519 ECDH + HKDF-SHA256 + AES-256-GCM, key ids for rotation."""

from __future__ import annotations

import base64
import os
import re
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from polis.config import Env

PREFIX = "sealed:v1:"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_NONCE_SIZE = 12
_KEY_SIZE = 32

# For dev/test settings ONLY (published in the repository, so they protect nothing). Production must set
# its own key pair, read with Env.secret() so that production cannot fall back to these.
DEV_KEY_ID = "dev"
DEV_PRIVATE_KEY = "KIhLEWu5kntoW7zUBsvZ0ilcmX5KyJ4RmSFbN3SU5X0"
DEV_PUBLIC_KEY = "1WyahaG4ZWcMVee3gctMSPby1KabR1OERTnDblQGO3E"


class SealError(ValueError):
    """A sealed value cannot be opened: malformed, tampered with, or sealed to an unknown key."""


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw(key: X25519PrivateKey | X25519PublicKey) -> bytes:
    if isinstance(key, X25519PrivateKey):
        return key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _derive(shared: bytes, key_id: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=_KEY_SIZE, salt=None, info=b"polis-seal-v1" + key_id.encode()
    ).derive(shared)


def generate_keypair() -> tuple[str, str]:
    """A new (private, public) key pair, each as unpadded base64url of the raw 32 bytes."""
    private = X25519PrivateKey.generate()
    return _b64encode(_raw(private)), _b64encode(_raw(private.public_key()))


def sealer_settings(env: Env) -> dict[str, str]:
    """The settings of a service that seals secrets for the notifier: its public key and key id, from
    NOTIFIER_SEALING_PUBLIC_KEY and NOTIFIER_SEALING_KEY_ID (the dev key pair's only in dev/test)."""
    public_key, key_id = (None, None) if env.is_production else (DEV_PUBLIC_KEY, DEV_KEY_ID)
    return {
        "NOTIFIER_SEALING_PUBLIC_KEY": env.str("NOTIFIER_SEALING_PUBLIC_KEY", public_key),
        "NOTIFIER_SEALING_KEY_ID": env.str("NOTIFIER_SEALING_KEY_ID", key_id),
    }


class Sealer:
    """Seals strings to one recipient's public key; anyone with the public key can seal, only it can open."""

    def __init__(self, public_key_b64: str, key_id: str) -> None:
        if not _KEY_ID.match(key_id):
            raise ValueError(f"invalid key id {key_id!r}")
        self.key_id = key_id
        self._public = X25519PublicKey.from_public_bytes(_b64decode(public_key_b64))

    def seal(self, plaintext: str) -> str:
        # A fresh ephemeral key per value: two seals of the same secret never look alike.
        ephemeral = X25519PrivateKey.generate()
        ephemeral_public = _raw(ephemeral.public_key())
        key = _derive(ephemeral.exchange(self._public), self.key_id)
        nonce = os.urandom(_NONCE_SIZE)
        # The key id and ephemeral key are bound as associated data: neither can be swapped unnoticed.
        ciphertext = AESGCM(key).encrypt(nonce, plaintext.encode(), self.key_id.encode() + ephemeral_public)
        return f"{PREFIX}{self.key_id}:{_b64encode(ephemeral_public + nonce + ciphertext)}"


class Opener:
    """Opens sealed strings with the recipient's private keys, by key id (old keys kept during rotation)."""

    def __init__(self, private_keys: dict[str, str]) -> None:
        self._keys = {
            key_id: X25519PrivateKey.from_private_bytes(_b64decode(value))
            for key_id, value in private_keys.items()
        }

    def open(self, sealed: str) -> str:
        if not isinstance(sealed, str) or not sealed.startswith(PREFIX):
            raise SealError("not a sealed value")
        key_id, _, encoded = sealed[len(PREFIX) :].partition(":")
        private = self._keys.get(key_id)
        if private is None:
            raise SealError(f"sealed to unknown key id {key_id!r}")
        try:
            raw = _b64decode(encoded)
        except ValueError:
            raise SealError("sealed value is not base64url") from None
        if len(raw) < 32 + _NONCE_SIZE + 16:
            raise SealError("sealed value is truncated")
        ephemeral_public, nonce, ciphertext = raw[:32], raw[32 : 32 + _NONCE_SIZE], raw[32 + _NONCE_SIZE :]
        try:
            key = _derive(private.exchange(X25519PublicKey.from_public_bytes(ephemeral_public)), key_id)
            plaintext = AESGCM(key).decrypt(nonce, ciphertext, key_id.encode() + ephemeral_public)
        except (InvalidTag, ValueError):
            raise SealError("sealed value was tampered with or sealed to another key") from None
        return plaintext.decode()
