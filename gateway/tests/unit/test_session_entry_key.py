"""The session entry's key (gateway/sessions.py, issue 18): computed with the standard library's HMAC, it is
the HKDF-SHA256 key it always was, so entries sealed before the change open after it."""

from __future__ import annotations

import base64
import os
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask.json.tag import TaggedJSONSerializer

from gateway import sessions


def sealed_as_before(secret: str, data: dict, written_at: float) -> bytes:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"polis gateway session").derive(
        secret.encode()
    )
    nonce = os.urandom(12)
    plain = TaggedJSONSerializer().dumps({"d": data, "w": written_at}).encode()
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plain, None))


def test_an_entry_sealed_with_the_hkdf_key_opens_and_a_new_one_needs_its_own_secret():
    secret = secrets.token_urlsafe(32)
    data = {"user": {"sub": "abc", "login_at": 1}, "tok": {"at": "x", "exp": 2}}
    assert sessions._open(secret, sealed_as_before(secret, data, 12.5)) == (data, 12.5)
    sealed = sessions._seal(secret, data, 7.0)
    assert sessions._open(secret, sealed) == (data, 7.0)
    assert sessions._open(secrets.token_urlsafe(32), sealed) is None  # another cookie's secret: nothing
