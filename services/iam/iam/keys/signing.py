"""Compact JWS (RFC 7515) put together with an opened signing key: the header, the payload, the signature.

Put together here rather than by joserfc's jwt.encode, which checked its header registry, converted the
claims and looked the key's operation up again on every token: about half of a client-credentials grant's
CPU went there and only a fifth into the signature. The header is encoded once per key and typ; the claims
are plain JSON values (ints, strings, lists) and encoded as joserfc does (ASCII, compact); the signature is
cryptography's, as joserfc's was (ES256: r || s, 32 bytes each, RFC 7518 3.4).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from iam.keys.sealing import SigningJwk


def compact_jws(claims: dict[str, Any], *, alg: str, kid: str, typ: str, key: SigningJwk) -> str:
    """The claims signed with `key` (its kid `kid`), header alg, kid and typ."""
    header, sign_input = _signer(alg, kid, typ, key)
    payload = _b64(json.dumps(claims, ensure_ascii=True, separators=(",", ":")).encode("ascii"))
    signing_input = header + b"." + payload
    return (signing_input + b"." + _b64(sign_input(signing_input))).decode("ascii")


def forget() -> None:
    """Drop the encoded headers and signing functions (iam.keys.service.forget_cached)."""
    _signers.clear()


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


_signers: dict[tuple[str, str, str], tuple[bytes, Callable[[bytes], bytes]]] = {}


def _signer(alg: str, kid: str, typ: str, key: SigningJwk) -> tuple[bytes, Callable[[bytes], bytes]]:
    """The encoded header and the signing function of a kid (a kid's key never changes)."""
    found = _signers.get((alg, kid, typ))
    if found is not None:
        return found
    private = key.get_op_key("sign")
    if alg == "ES256":
        if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp256r1":
            raise ValueError(f"key {kid} is not a P-256 key")

        def sign_input(data: bytes) -> bytes:
            r, s = decode_dss_signature(private.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    elif alg == "RS256":
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError(f"key {kid} is not an RSA key")

        def sign_input(data: bytes) -> bytes:
            return private.sign(data, padding.PKCS1v15(), hashes.SHA256())

    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    header = _b64(json.dumps({"alg": alg, "kid": kid, "typ": typ}, separators=(",", ":")).encode("ascii"))
    found = _signers.setdefault((alg, kid, typ), (header, sign_input))
    return found
