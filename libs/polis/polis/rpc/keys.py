"""The key pair each responding service opens sealed RPC fields with; callers hold only its public half."""

from __future__ import annotations

from polis.config import Env
from polis.events.sealing import DEV_KEY_ID, DEV_PRIVATE_KEY, DEV_PUBLIC_KEY, Opener, Sealer


def _prefix(service: str) -> str:
    return f"POLIS_RPC_{service.upper()}"


def sealer_for(service: str, env: Env | None = None) -> Sealer:
    """Seals to `service`: POLIS_RPC_<SERVICE>_PUBLIC_KEY and _KEY_ID (dev/test defaults only)."""
    env = env or Env()
    dev = None if env.is_production else DEV_PUBLIC_KEY
    public = env.str(f"{_prefix(service)}_PUBLIC_KEY", dev)
    key_id = env.str(f"{_prefix(service)}_KEY_ID", None if env.is_production else DEV_KEY_ID)
    return Sealer(public, key_id)


def opener_for(service: str, env: Env | None = None) -> Opener:
    """Opens what was sealed to `service`: POLIS_RPC_<SERVICE>_PRIVATE_KEY (a secret) and _KEY_ID."""
    env = env or Env()
    private = env.secret(f"{_prefix(service)}_PRIVATE_KEY", DEV_PRIVATE_KEY)
    key_id = env.str(f"{_prefix(service)}_KEY_ID", None if env.is_production else DEV_KEY_ID)
    return Opener({key_id: private.reveal()})
