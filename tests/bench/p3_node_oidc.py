"""P3's baseline: node-oidc-provider (npm `oidc-provider`, tools/oidc-provider-bench/) given the clients, the
API and the user IAM gets, its tokens in memory or (pg-adapter.js) in PostgreSQL; p3_grants.py measures it."""

from __future__ import annotations

import json
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_common import cpu_by_pid, free_port, process, wait_http

NODE_DIR = Path(__file__).resolve().parents[2] / "tools" / "oidc-provider-bench"
NODE_PG_POOL = 8  # node-oidc-provider's connections on PostgreSQL: as many as IAM's 2 workers x 4 threads


@dataclass(frozen=True)
class Setup:
    """What the provider is configured with: the API (resource and scope), the two clients, the user."""

    resource: str
    api_scope: str
    service_client: str
    rp_client: str
    rp_scope: str
    redirect_uri: str
    username: str


@dataclass(frozen=True)
class NodeProvider:
    """A running node-oidc-provider: its port, its clients' secrets, the CPU meters of it and its database."""

    name: str
    port: int
    service_secret: str
    rp_secret: str
    meters: dict[str, Callable[[], dict[int, float]]]


def node_version() -> str:
    package = NODE_DIR / "node_modules" / "oidc-provider" / "package.json"
    if not package.exists():
        raise SystemExit(
            f"P3: {package} is missing: run `scripts/install.sh --bench` (npm install in {NODE_DIR})"
        )
    return str(json.loads(package.read_text())["version"])


def es256_private_jwk() -> dict[str, Any]:
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", private=True)
    jwk = dict(key.as_dict(private=True))
    jwk.update({"kid": f"p3-{secrets.token_hex(4)}", "alg": "ES256", "use": "sig"})
    return jwk


def node_settings(work: Path, port: int, setup: Setup, name: str = "node") -> tuple[Path, str, str]:
    """provider.js's settings file (private: it holds the signing key and the secrets), and the secrets."""
    service_secret, rp_secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    settings = {
        "port": port,
        "issuer": f"http://127.0.0.1:{port}",
        "jwks": {"keys": [es256_private_jwk()]},
        "cookie_key": secrets.token_urlsafe(32),
        "resource": setup.resource,
        "resource_scope": setup.api_scope,
        "service_client": {
            "client_id": setup.service_client,
            "client_secret": service_secret,
            "scope": setup.api_scope,
        },
        "rp_client": {
            "client_id": setup.rp_client,
            "client_secret": rp_secret,
            "redirect_uri": setup.redirect_uri,
            "scope": setup.rp_scope,
        },
        "account": {
            "sub": str(uuid.uuid4()),
            "preferred_username": setup.username,
            "given_name": "Bench",
            "family_name": "User",
            "name": "Bench User",
            "locale": "it",
            "email": f"{setup.username}@example.org",
            "email_verified": True,
        },
    }
    path = work / f"p3-oidc-provider-{name}.json"
    path.write_text(json.dumps(settings))
    path.chmod(0o600)
    return path, service_secret, rp_secret


@contextmanager
def node_provider(
    name: str,
    work: Path,
    setup: Setup,
    *,
    database_url: str | None = None,
    database_meter: Callable[[], dict[int, float]] | None = None,
) -> Iterator[NodeProvider]:
    """node-oidc-provider running, its tokens in memory or (database_url: a postgresql:// URL) in
    PostgreSQL through pg-adapter.js; `database_meter` reads that database's CPU."""
    node_binary = shutil.which("node")
    if node_binary is None:
        raise SystemExit("P3: node is not installed (scripts/install.sh installs nodejs)")
    port = free_port()
    settings, service_secret, rp_secret = node_settings(work, port, setup, name)
    env = {"NODE_ENV": "production"}
    if database_url is not None:
        env.update(OIDC_BENCH_PG_URL=database_url, OIDC_BENCH_PG_POOL=str(NODE_PG_POOL))
    logs = work / "logs"
    with process(
        f"oidc-provider-{name}", [node_binary, "provider.js", str(settings)], cwd=NODE_DIR, env=env, logs=logs
    ) as node_process:
        wait_http(
            f"http://127.0.0.1:{port}/.well-known/openid-configuration",
            node_process,
            logs / f"oidc-provider-{name}.log",
        )
        meters = {"node": lambda: cpu_by_pid(group=node_process.pid)}
        if database_meter is not None:
            meters["PostgreSQL"] = database_meter
        yield NodeProvider(
            name=name, port=port, service_secret=service_secret, rp_secret=rp_secret, meters=meters
        )
