"""The ID token signing key: ES256, generated on first use and kept in IAM's database.

Seam for issue 5 (rotation and encryption at rest): `_seal`/`_unseal` are where the private JWK gets
encrypted; `active_key` picks the signing key, `public_jwks` publishes every key not yet retired, so a
rotation only has to insert the next key ahead of time and set `retired_at` on the old one later.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

from joserfc.jwk import ECKey
from polis.db import Database
from sqlalchemy import select

from iam.oidc.models import SigningKey
from iam.oidc.txn import write_transaction

ALG = "ES256"
_lock = threading.Lock()
_cache: dict[str, ECKey] = {}


def _seal(private_jwk: dict[str, Any]) -> str:
    return json.dumps(private_jwk)  # issue 5: encrypt with the key-encryption key here


def _unseal(stored: str) -> dict[str, Any]:
    return json.loads(stored)  # type: ignore[no-any-return]


def _load(row: SigningKey) -> ECKey:
    key = _cache.get(row.kid)
    if key is None:
        key = ECKey.import_key(_unseal(row.private_jwk))
        _cache[row.kid] = key
    return key


# The signing key is read at every token request: kept in memory for a short while (a rotation in issue 5
# publishes the next key well before it signs, so a process that is late by CACHE_SECONDS does no harm).
CACHE_SECONDS = 60.0
_active: tuple[float, str, ECKey] | None = None


def active_key(db: Database) -> tuple[str, ECKey]:
    """The key that signs now (the oldest live one), created when IAM has none yet."""
    global _active
    cached = _active
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1], cached[2]
    kid, key = _load_active(db)
    _active = (time.monotonic(), kid, key)
    return kid, key


def forget_cached() -> None:
    global _active
    _active = None
    _cache.clear()


def _load_active(db: Database) -> tuple[str, ECKey]:
    with db.transaction() as session:
        row = session.execute(
            select(SigningKey)
            .where(SigningKey.retired_at.is_(None))
            .order_by(SigningKey.created_at, SigningKey.kid)
            .limit(1)
        ).scalar()
        if row is not None:
            return row.kid, _load(row)
    with _lock:
        return _create_first(db)


def _create_first(db: Database) -> tuple[str, ECKey]:
    key = ECKey.generate_key("P-256", private=True, auto_kid=True)
    kid = str(key.kid)
    with write_transaction(db) as session:
        if session.execute(select(SigningKey.kid).where(SigningKey.retired_at.is_(None))).first() is None:
            session.add(
                SigningKey(
                    kid=kid,
                    alg=ALG,
                    private_jwk=_seal(key.as_dict(private=True)),
                    created_at=datetime.now(UTC),
                )
            )
    # Another process may have won the race: whichever key is oldest signs.
    return _load_active(db)


def public_jwks(db: Database) -> dict[str, Any]:
    """The JWKS document: the public half of every key that is not retired."""
    active_key(db)  # make sure there is one
    with db.transaction() as session:
        rows = session.execute(select(SigningKey).where(SigningKey.retired_at.is_(None))).scalars().all()
        keys = []
        for row in rows:
            public = _load(row).as_dict(private=False)
            public.update({"kid": row.kid, "alg": row.alg, "use": "sig"})
            keys.append(public)
    return {"keys": keys}
