"""P3 of `make bench`: client-credentials grants and refresh grants per second at IAM's token endpoint, next
to node-oidc-provider (npm `oidc-provider`, tools/oidc-provider-bench/) configured like IAM and measured
under the same load tool, concurrency and duration in the same run.

Goals (issue 5): >= 240 grants/s per core, twice Keycloak's published sizing figure of 120 per vCPU (which,
like ours, counts the server's CPU and not the database's), and at least as fast as node-oidc-provider.

What each server gets: a confidential client with client_credentials (scope "istanze", audience
"urn:polis:istanze", service role "ops" at IAM) and a confidential client with authorization_code +
refresh_token; client_secret_basic for both; JWT access tokens (RFC 9068) signed ES256, 900 s; refresh
tokens rotated at every use, a reused one revoking its family (IAM) or grant (node). node-oidc-provider
signs with an EC P-256 key this benchmark generates. Where tokens are kept: IAM keeps its refresh tokens
and its users' access-token ids in its database: a refresh there spends the token and inserts its successor
and the access token's row in one transaction (SQLite and PostgreSQL both measured). node-oidc-provider
(which stores no JWT access token) is measured with the in-memory adapter it ships for development (not
for production) in both runs, and in the PostgreSQL run also with a durable adapter
(tools/oidc-provider-bench/pg-adapter.js: one table, one autocommitted statement per adapter call, a pool of
NODE_PG_POOL connections) on a fresh database of the same cluster: the like-for-like comparison. A node
refresh then reads the token and its grant, marks the token consumed and inserts its successor.

Load: wrk with a Lua script (p3_client_credentials.lua, p3_refresh.lua), -t2 and the --connections of
run.py; a short warm-up of each server, then --duration seconds of load on each, in alternating slices
(node, IAM, IAM, node; on PostgreSQL node, node-pg, IAM, IAM, node-pg, node) so that other work on the
machine weighs on all alike. Refresh grants are all valid rotations: each wrk thread holds a queue of
refresh tokens, sends the oldest, and queues the one each answer carries (a token is never sent twice).
The pools come from each server's real code flow just before each run: one password login at IAM (then
SSO), an automatic login at node (its interaction page logs the bench user in and grants the scopes, as IAM
does for a trusted client), one authorization code + PKCE exchanged per token. Every answer must be 200
and every refresh answer must carry a new refresh token, or the run fails.

"Per core" is grants per CPU-second of the server's own processes (gunicorn master and workers; node's
single process), read from /proc before and after the measure; the database's CPU (PostgreSQL's postmaster
and all its children, counted the same way for IAM and for node on PostgreSQL) and the load generator's are
given beside it, and on PostgreSQL a row compares server + database per CPU-second, IAM against node-pg.

node-oidc-provider's settings and process: p3_node_oidc.py.
Run alone: .venv/bin/python tests/bench/run.py --only p3 [--duration 20 --databases sqlite]
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import subprocess
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bench_common import (
    ROOT,
    VENV_BIN,
    Browser,
    Result,
    active_account,
    basic_auth,
    cpu_by_pid,
    free_port,
    get_json,
    gunicorn_service,
    local_path,
    token_request,
    wrk_run,
)
from p3_node_oidc import NODE_PG_POOL, NodeProvider, Setup, node_provider, node_version

BENCH = Path(__file__).resolve().parent
IAM_DIR = ROOT / "services" / "iam"

GOAL_PER_CORE = 240.0  # grants per second per core: twice Keycloak's 120 per vCPU
API_SCOPE = "istanze"
RESOURCE = "urn:polis:istanze"
SERVICE_CLIENT = "p3-service"
RP_CLIENT = "p3-portal"
RP_SCOPE = f"openid profile email {API_SCOPE}"
REDIRECT_URI = "http://127.0.0.1:9/p3/callback"  # never contacted: the code is read from the Location
USERNAME = "p3.user"
PASSWORD = "bench passphrase for the grants benchmark"
WRK_THREADS = 2
WARM_UP_SECONDS = 2
ROUNDS = 2  # alternating slices per grant type: node, IAM, IAM, node
CSRF = re.compile(rb'name="csrf_token" value="([^"]+)"')
NEXT = re.compile(rb'name="next" value="([^"]+)"')
GRANTS = {"client_credentials": "client credentials", "refresh_token": "refresh"}
SETUP = Setup(
    resource=RESOURCE,
    api_scope=API_SCOPE,
    service_client=SERVICE_CLIENT,
    rp_client=RP_CLIENT,
    rp_scope=RP_SCOPE,
    redirect_uri=REDIRECT_URI,
    username=USERNAME,
)


class BenchFailed(SystemExit):
    pass


# --- the two servers ------------------------------------------------------------------------------------


@dataclass
class Server:
    """An OpenID provider under test: where it is, its clients, how to read its CPU."""

    name: str
    port: int
    service_secret: str
    rp_secret: str
    meters: dict[str, Callable[[], dict[int, float]]]
    own_meter: str  # the meter that counts the server itself (the others: its database)
    login: Callable[[Browser, bytes], tuple[str, dict[str, str]] | None] | None = None
    host: str = "127.0.0.1"
    endpoints: dict[str, str] = field(default_factory=dict)

    def discover(self) -> None:
        config = get_json(self.host, self.port, "/.well-known/openid-configuration")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            self.endpoints[key] = local_path(config[key])

    @property
    def token_url(self) -> str:
        return f"http://{self.host}:{self.port}{self.endpoints['token_endpoint']}"

    @property
    def service_auth(self) -> str:
        return basic_auth(SERVICE_CLIENT, self.service_secret)

    @property
    def rp_auth(self) -> str:
        return basic_auth(RP_CLIENT, self.rp_secret)


def node_server(provider: NodeProvider) -> Server:
    """The baseline as the load sees it (p3_node_oidc.py starts it), its endpoints discovered."""
    server = Server(
        name=provider.name,
        port=provider.port,
        service_secret=provider.service_secret,
        rp_secret=provider.rp_secret,
        meters=provider.meters,
        own_meter="node",
    )
    server.discover()
    return server


def iam_login(browser: Browser, page: bytes) -> tuple[str, dict[str, str]] | None:
    """IAM's login form (GET /iam/accedi): the POST that answers it, or None when the page is not it."""
    csrf, next_path = CSRF.search(page), NEXT.search(page)
    if csrf is None or next_path is None:
        return None
    return "/iam/accedi", {
        "username": USERNAME,
        "password": PASSWORD,
        "next": unescape(next_path.group(1).decode()),
        "csrf_token": csrf.group(1).decode(),
    }


def authorization_code(server: Server, browser: Browser) -> tuple[str, str]:
    """One authorization request followed through redirects (and IAM's login form the first time) to the
    client's redirect URI: the code and its PKCE verifier."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": RP_CLIENT,
            "redirect_uri": REDIRECT_URI,
            "scope": RP_SCOPE,
            "state": state,
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    method, path, form = "GET", f"{server.endpoints['authorization_endpoint']}?{query}", None
    for _ in range(12):
        status, location, payload = browser.request(method, path, form)
        if status in (301, 302, 303, 307) and location:
            if location.startswith(REDIRECT_URI):
                params = parse_qs(urlsplit(location).query)
                if params.get("state") != [state] or "code" not in params:
                    raise BenchFailed(f"P3: {server.name} redirected back without a code: {location[:300]}")
                return params["code"][0], verifier
            method, path, form = "GET", local_path(location), None
            continue
        answer = server.login(browser, payload) if status == 200 and server.login else None
        if answer is None:
            raise BenchFailed(f"P3: {server.name} {method} {path.split('?')[0]}: {status} {payload[:300]!r}")
        method, (path, form) = "POST", answer
    raise BenchFailed(f"P3: {server.name}: too many redirects in the code flow")


def refresh_tokens(server: Server, count: int) -> list[str]:
    """`count` refresh tokens, each from its own authorization code (at IAM each its own family)."""
    browser = Browser(server.host, server.port, timeout=30, local_locations=False)
    tokens = []
    try:
        for _ in range(count):
            code, verifier = authorization_code(server, browser)
            body = token_request(
                server.host,
                server.port,
                server.endpoints["token_endpoint"],
                server.rp_auth,
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT_URI,
                    "code_verifier": verifier,
                },
            )
            if "refresh_token" not in body:
                raise BenchFailed(f"P3: {server.name} issued no refresh token: {sorted(body)}")
            tokens.append(body["refresh_token"])
    finally:
        browser.close()
    return tokens


# --- what the tokens look like (the comparison is fair only if both sign the same kind) -----------------


def describe(server: Server, body: dict[str, Any]) -> str:
    """The access token's JOSE header and audience, checked against the server's JWKS, and whether an ID
    token and a new refresh token came with it."""
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    jwks = get_json(server.host, server.port, server.endpoints["jwks_uri"])
    token = body.get("access_token", "")
    try:
        decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256", "RS256"])  # type: ignore[arg-type]
    except (JoseError, ValueError) as error:
        return f"access token not a JWT verified by the JWKS ({type(error).__name__})"
    audience = decoded.claims.get("aud")
    audience = " ".join(audience) if isinstance(audience, list) else audience
    extras = [name for name in ("id_token", "refresh_token") if name in body]
    return (
        f"{decoded.header.get('typ')} {decoded.header.get('alg')} aud={audience} "
        f"scope={decoded.claims.get('scope')!r}" + (f" + {' + '.join(extras)}" if extras else "")
    )


# --- load -----------------------------------------------------------------------------------------------


@dataclass
class Measure:
    rate: float  # grants per second (wrk's Requests/sec)
    count: int
    cpu: dict[str, float]  # CPU seconds per meter over the measure
    client_cpu: float  # wrk's CPU seconds
    seconds: float

    @classmethod
    def total(cls, slices: list[Measure]) -> Measure:
        count, seconds = sum(m.count for m in slices), sum(m.seconds for m in slices)
        return cls(
            rate=count / seconds if seconds else 0.0,
            count=count,
            cpu={name: sum(m.cpu.get(name, 0.0) for m in slices) for name in slices[0].cpu},
            client_cpu=sum(m.client_cpu for m in slices),
            seconds=seconds,
        )

    def per_grant_ms(self, meter: str) -> float:
        return self.cpu.get(meter, 0.0) / max(1, self.count) * 1000

    def per_cpu_second(self, meter: str) -> float:
        spent = self.cpu.get(meter, 0.0)
        return self.count / spent if spent else 0.0


def run_wrk(
    url: str,
    script: Path,
    args: list[str],
    *,
    duration: int,
    connections: int,
    meters: dict[str, Callable[[], dict[int, float]]] | None = None,
) -> Measure:
    """bench_common's wrk run with a grant script; the refresh script's count of lost tokens checked."""
    run = wrk_run(
        url,
        duration=duration,
        connections=connections,
        threads=WRK_THREADS,
        timeout=10,
        script=script,
        script_args=args,
        meters=meters,
    )
    lua = re.search(r"p3: answers without refresh_token (\d+), requests without a token (\d+)", run.output)
    if lua is not None and (int(lua.group(1)) or int(lua.group(2))):
        raise BenchFailed(f"P3: refresh tokens went missing against {url}:\n{run.output}")
    return Measure(
        rate=run.rate, count=run.count, cpu=run.cpu, client_cpu=run.client_cpu, seconds=run.seconds
    )


def load(
    server: Server, grant: str, work: Path, *, seconds: int, connections: int, metered: bool = True
) -> Measure:
    """One wrk run of one grant type at one server."""
    if grant == "client_credentials":
        script, args = BENCH / "p3_client_credentials.lua", [server.service_auth, API_SCOPE]
    else:
        # A pool of twice the connections (wrk splits them evenly over its threads), taken just before
        # the run: node-oidc-provider's in-memory adapter is an LRU of 1,000 entries, where tokens left
        # idle during an earlier run would have been evicted.
        script = BENCH / "p3_refresh.lua"
        pool = work / f"p3-{server.name}-{uuid.uuid4().hex[:8]}.txt"
        pool.write_text("\n".join(refresh_tokens(server, 2 * connections)) + "\n")
        args = [server.rp_auth, str(pool), str(WRK_THREADS)]
    meters = server.meters if metered else None
    return run_wrk(server.token_url, script, args, duration=seconds, connections=connections, meters=meters)


def compare(
    servers: list[Server], grant: str, work: Path, *, duration: int, connections: int
) -> dict[str, Measure]:
    """All servers under the same load: a warm-up each, then ROUNDS alternating slices (in the order given,
    then in reverse, ...) adding up to `duration` seconds each, so that other work on the machine weighs on
    them alike. The measures by server name."""
    for server in servers:
        load(server, grant, work, seconds=WARM_UP_SECONDS, connections=connections, metered=False)
    slice_seconds = max(1, round(duration / ROUNDS))
    slices: dict[str, list[Measure]] = {server.name: [] for server in servers}
    for round_index in range(ROUNDS):
        for server in servers if round_index % 2 == 0 else reversed(servers):
            slices[server.name].append(
                load(server, grant, work, seconds=slice_seconds, connections=connections)
            )
    return {name: Measure.total(measures) for name, measures in slices.items()}


def sample(server: Server, grant: str) -> str:
    """What one answer of this grant type looks like at this server."""
    if grant == "client_credentials":
        body = token_request(
            server.host,
            server.port,
            server.endpoints["token_endpoint"],
            server.service_auth,
            {"grant_type": "client_credentials", "scope": API_SCOPE},
        )
    else:
        body = token_request(
            server.host,
            server.port,
            server.endpoints["token_endpoint"],
            server.rp_auth,
            {"grant_type": "refresh_token", "refresh_token": refresh_tokens(server, 1)[0]},
        )
    return describe(server, body)


# --- IAM ------------------------------------------------------------------------------------------------


def prepare_iam(database_url: str, env: dict[str, str]) -> tuple[str, str]:
    """Migrate a fresh database and add the bench account and the two clients (as the ops command would,
    with the issue-5 columns: audiences, service roles); their secrets."""
    done = subprocess.run(
        [str(VENV_BIN / "alembic"), "-c", "alembic.ini", "upgrade", "head"],
        cwd=IAM_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BenchFailed(f"P3: IAM migrations failed:\n{done.stdout}\n{done.stderr}")

    from iam.clients.models import OidcClient
    from iam.clients.service import hash_client_secret
    from iam.passwords.hashing import hash_secret
    from polis.db import Database

    service_secret, rp_secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    database = Database(database_url)
    common = {"created_at": now, "updated_at": now, "trusted": True, "post_logout_redirect_uris": []}
    with database.transaction() as session:
        session.add(
            active_account(
                USERNAME,
                password_hash=hash_secret(PASSWORD),
                now=now,
                codice_fiscale="BNCPTR80A01H501X",
                first_name="Bench",
                last_name="User",
                personal_email="p3.user@example.org",
            )
        )
        session.add(
            OidcClient(
                client_id=SERVICE_CLIENT,
                name="P3 service (client credentials)",
                secret_hash=hash_client_secret(service_secret),
                redirect_uris=[],
                grant_types=["client_credentials"],
                scopes=[API_SCOPE],
                audiences=[RESOURCE],
                service_roles=["ops"],
                access_token_ttl=900,
                **common,
            )
        )
        session.add(
            OidcClient(
                client_id=RP_CLIENT,
                name="P3 relying party (code + refresh)",
                secret_hash=hash_client_secret(rp_secret),
                redirect_uris=[REDIRECT_URI],
                grant_types=["authorization_code", "refresh_token"],
                scopes=RP_SCOPE.split(),
                audiences=[RESOURCE],
                access_token_ttl=900,
                refresh_token_ttl=8 * 3600,
                id_token_alg="ES256",
                **common,
            )
        )
    database.dispose()
    return service_secret, rp_secret


# --- the benchmark --------------------------------------------------------------------------------------


def bench_grants(
    work: Path,
    *,
    duration: int,
    connections: int,
    databases: list[str],
    postgres: Callable[[], Any] | None = None,
) -> list[Any]:
    """Start node-oidc-provider (in-memory adapter), then IAM on each database in turn; measure both grant
    types at node and at IAM back to back (node again next to each IAM, so each pair shares the machine's
    conditions). On PostgreSQL a second node-oidc-provider keeps its tokens in a database of the same
    cluster, measured in the same alternation."""
    (work / "logs").mkdir(exist_ok=True)
    version = node_version()
    results: list[Any] = []
    with node_provider("node", work, SETUP) as provider:
        node = node_server(provider)
        shapes = {grant: {"node": sample(node, grant)} for grant in GRANTS}
        for database in databases:
            results.extend(
                bench_iam_on(
                    database,
                    work,
                    node=node,
                    node_version=version,
                    shapes=shapes,
                    duration=duration,
                    connections=connections,
                    postgres=postgres,
                )
            )
    return results


def bench_iam_on(
    database: str,
    work: Path,
    *,
    node: Server,
    node_version: str,
    shapes: dict[str, dict[str, str]],
    duration: int,
    connections: int,
    postgres: Callable[[], Any] | None,
) -> list[Any]:
    logs = work / "logs"
    pg = postgres() if database == "postgresql" and postgres is not None else None
    if database == "postgresql" and pg is None:
        raise BenchFailed("P3: PostgreSQL asked for but no cluster given")
    try:
        database_url = pg.create_database("bench_p3") if pg else f"sqlite:///{work}/bench_p3.sqlite3"
        iam_port = free_port()
        iam_url = f"http://127.0.0.1:{iam_port}"
        iam_env = {
            "POLIS_ENV": "dev",
            "POLIS_VAR_DIR": str(work / "var"),
            "POLIS_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F",  # not on this path
            "POLIS_LOG_LEVEL": "WARNING",
            "IAM_BIND": f"127.0.0.1:{iam_port}",
            "IAM_DATABASE_URL": database_url,
            "IAM_PUBLIC_BASE_URL": iam_url,
            "IAM_LOG_LEVEL": "WARNING",
        }
        service_secret, rp_secret = prepare_iam(database_url, iam_env)
        with ExitStack() as stack:
            iam_process = stack.enter_context(
                gunicorn_service(
                    f"iam-p3-{database}", cwd=IAM_DIR, env=iam_env, logs=logs, health_url=f"{iam_url}/healthz"
                )
            )
            meters = {"IAM": lambda: cpu_by_pid(group=iam_process.pid)}
            nodes = [node]
            if pg is not None:
                # PostgreSQL's CPU: the postmaster and all its children (backends and background workers),
                # counted alike for IAM and for node-oidc-provider on its own database of the cluster.
                postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
                meters["PostgreSQL"] = lambda: cpu_by_pid(parent=postmaster)
                node_database = pg.create_database("bench_p3_node").replace("+psycopg", "", 1)
                node_pg = node_server(
                    stack.enter_context(
                        node_provider(
                            "node-pg",
                            work,
                            SETUP,
                            database_url=node_database,
                            database_meter=meters["PostgreSQL"],
                        )
                    )
                )
                for grant in GRANTS:
                    shapes[grant]["node-pg"] = sample(node_pg, grant)
                nodes.append(node_pg)
            iam = Server(
                name=f"iam-{database}",
                port=iam_port,
                service_secret=service_secret,
                rp_secret=rp_secret,
                meters=meters,
                own_meter="IAM",
                login=iam_login,
            )
            iam.discover()
            from polis.service import gunicorn_settings

            gunicorn = gunicorn_settings("iam", default_port=8101)
            workers = f"{gunicorn['workers']} workers x {gunicorn['threads']} threads"
            results = []
            for grant, label in GRANTS.items():
                shapes[grant]["iam"] = sample(iam, grant)
                measures = compare([*nodes, iam], grant, work, duration=duration, connections=connections)
                for baseline in nodes:
                    results.extend(
                        report_pair(
                            grant,
                            label,
                            database,
                            measures[iam.name],
                            measures[baseline.name],
                            node_name=baseline.name,
                            shapes=shapes[grant],
                            node_version=node_version,
                            workers=workers,
                            connections=connections,
                        )
                    )
            return results
    finally:
        if pg is not None:
            pg.stop()
            pg.cleanup()


def with_database(measure: Measure, meter: str) -> str:
    """CPU per grant of PostgreSQL, and grants per CPU-second of the server and PostgreSQL together."""
    return (
        f", PostgreSQL {measure.per_grant_ms('PostgreSQL'):.2f} ms ({meter} + PostgreSQL: "
        f"{measure.count / (measure.cpu[meter] + measure.cpu['PostgreSQL']):.0f}/s per core)"
    )


def report_pair(
    grant: str,
    label: str,
    database: str,
    iam: Measure,
    node: Measure,
    *,
    node_name: str,
    shapes: dict[str, str],
    node_version: str,
    workers: str,
    connections: int,
) -> list[Any]:
    """The rows of one grant type: IAM against one node-oidc-provider (`node`: in-memory adapter;
    `node-pg`: PostgreSQL adapter, with a third row counting the database's CPU on both sides)."""
    on_pg = node_name == "node-pg"
    iam_per_core, node_per_core = iam.per_cpu_second("IAM"), node.per_cpu_second("node")
    iam_cpu = with_database(iam, "IAM") if "PostgreSQL" in iam.cpu else " (SQLite: in IAM's processes)"
    node_cpu = with_database(node, "node") if on_pg else ""
    store = (
        "tokens in PostgreSQL through tools/oidc-provider-bench/pg-adapter.js (its own database of the same "
        f"cluster, a pool of {NODE_PG_POOL} connections, one statement per adapter call)"
        if on_pg
        else "tokens in its in-memory dev adapter"
    )
    kind = "on PostgreSQL" if on_pg else "in-memory"
    suffix = f"{database}, node-pg" if on_pg else database
    common = (
        f"wrk -t{WRK_THREADS} -c{connections}, {iam.seconds:.0f} s each in {ROUNDS} alternating slices; "
        f"{iam.count} and {node.count} grants, all 200. "
        f"IAM: gunicorn gthread, {workers} (services/iam/gunicorn.conf.py), tokens in {database}; "
        f"node-oidc-provider {node_version}: 1 process, {store} (JWT access tokens not stored). "
        f"CPU per grant: IAM {iam.per_grant_ms('IAM'):.2f} ms{iam_cpu}, node "
        f"{node.per_grant_ms('node'):.2f} ms{node_cpu}; wrk's own "
        f"{iam.client_cpu / max(1, iam.count) * 1000:.2f} ms (IAM runs), "
        f"{node.client_cpu / max(1, node.count) * 1000:.2f} ms (node runs). Answers: IAM "
        f"{shapes.get('iam')}; node {shapes.get(node_name)}"
    )
    rows = [
        Result(
            f"P3 {label} grants ({suffix})",
            iam.rate,
            "/s",
            f"node-oidc-provider {node_version} {kind}, same wrk load",
            node.rate,
            ">= 1.00 x node",
            common,
        ),
        Result(
            f"P3 {label} per core ({suffix})",
            iam_per_core,
            "/s",
            f"node-oidc-provider {kind}, grants per CPU-second",
            node_per_core,
            f">= {GOAL_PER_CORE:.0f}/s per core and >= node",
            f"grants per CPU-second of the server's own processes: IAM {iam_per_core:.0f} "
            f"({iam_per_core / GOAL_PER_CORE:.2f} x the {GOAL_PER_CORE:.0f} goal), node {node_per_core:.0f} "
            f"({node_per_core / GOAL_PER_CORE:.2f} x the goal); IAM used {iam.cpu['IAM'] / iam.seconds:.2f} "
            f"cores, node {node.cpu['node'] / node.seconds:.2f}",
        ),
    ]
    if on_pg:
        iam_total, node_total = (
            iam.cpu["IAM"] + iam.cpu["PostgreSQL"],
            node.cpu["node"] + node.cpu["PostgreSQL"],
        )
        rows.append(
            Result(
                f"P3 {label} per core + db ({suffix})",
                iam.count / iam_total if iam_total else 0.0,
                "/s",
                "node-oidc-provider on PostgreSQL, grants per CPU-second of node + PostgreSQL",
                node.count / node_total if node_total else 0.0,
                ">= node (like for like)",
                f"grants per CPU-second of the server's processes and PostgreSQL's (postmaster and all its "
                f"children, read alike for both); IAM + PostgreSQL used {iam_total / iam.seconds:.2f} cores "
                f"(PostgreSQL {iam.cpu['PostgreSQL'] / iam.seconds:.2f}), node + PostgreSQL "
                f"{node_total / node.seconds:.2f} (PostgreSQL {node.cpu['PostgreSQL'] / node.seconds:.2f})",
            )
        )
    return rows
