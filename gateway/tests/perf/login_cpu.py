"""The gateway's CPU per login, alone: the real gateway (gateway-web, Granian, the bench's settings) in front
of fake_iam.py (gunicorn), the five requests of tests/bench/p1_login.py's browser flow, CPU of the
gateway's process group per login. No argon2 and no database, so it takes seconds and is much less noisy
than the whole P1-login bench (issue 18; docs/performance.md, "2026-12-03 afternoon: the gateway").

  .venv/bin/python gateway/tests/perf/login_cpu.py [--logins 400] [--browsers 4] [--gateway-dir DIR]

--gateway-dir runs another copy of the gateway package (e.g. `git archive <commit> gateway | tar -x -C
/tmp/old`, then /tmp/old/gateway) against the same fake IAM, for a before/after on the same machine state.
LOGIN_CPU_PAUSE=seconds waits before the measured logins (time to attach py-spy to the printed group).
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tests" / "bench"))

from bench_common import CLOCK_TICKS, cpu_by_pid, cpu_spent, proc_stats, stat_fields  # noqa: E402
from p1_login import Agent  # noqa: E402

UNREACHABLE = "100000000 per minute"  # the limits stay on (their cost is measured), never reached


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def group_counters(group: int) -> tuple[float, float, int]:
    """User and system CPU seconds and minor page faults so far of a process group's live processes (sys
    time and faults: glibc's thread arenas trimmed and touched again show there, issue 18)."""
    user = system = 0.0
    faults = 0
    for pid, _ppid, pgid, _cpu in proc_stats():
        fields = stat_fields(pid) if pgid == group else None
        if fields is not None:
            faults += int(fields[7])
            user += int(fields[11]) / CLOCK_TICKS
            system += int(fields[12]) / CLOCK_TICKS
    return user, system, faults


def wait_http(port: int, path: str, deadline: float = 30.0) -> None:
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", path)
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing answers on port {port}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--logins", type=int, default=400)
    parser.add_argument("--browsers", type=int, default=4)
    parser.add_argument("--workers", default="1")
    parser.add_argument("--gateway-dir", default=str(ROOT / "gateway"))
    args = parser.parse_args()
    iam_port, gateway_port = free_port(), free_port()
    bin_dir = ROOT / ".venv" / "bin"
    iam = subprocess.Popen(
        [str(bin_dir / "gunicorn"), "--workers", "1", "--threads", "8", "--worker-class", "gthread",
         "--keep-alive", "30", "--log-level", "warning", "-b", f"127.0.0.1:{iam_port}", "fake_iam:app"],
        cwd=HERE,
        env={**os.environ, "FAKE_ISSUER": f"http://127.0.0.1:{gateway_port}"},
        start_new_session=True,
    )  # fmt: skip
    gateway_env = {
        **os.environ,
        "POLIS_ENV": "dev",
        "POLIS_LOG_LEVEL": "WARNING",
        "GATEWAY_WORKERS": args.workers,
        "GATEWAY_THREADS": "8",
        "GATEWAY_BIND": f"127.0.0.1:{gateway_port}",
        "GATEWAY_IAM_URL": f"http://127.0.0.1:{iam_port}",
        "GATEWAY_RATELIMIT_DEFAULT": UNREACHABLE,
        "GATEWAY_RATELIMIT_AUTHENTICATION": UNREACHABLE,
        "GATEWAY_RATELIMIT_AUTHENTICATION_BLOCK": UNREACHABLE,
    }
    gateway = subprocess.Popen(
        [str(bin_dir / "python"), "-m", "gateway.server"],
        cwd=args.gateway_dir,
        env=gateway_env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_http(iam_port, "/oidc/jwks")
        wait_http(gateway_port, "/healthz")
        sent: list[int] = []

        def browse(logins: int) -> None:
            agent = Agent("127.0.0.1", gateway_port)
            try:
                for _ in range(logins):
                    agent.login("bench.user")
            finally:
                agent.close()
            sent.append(agent.requests)

        def load(logins: int) -> None:
            threads = [threading.Thread(target=browse, args=(logins,)) for _ in range(args.browsers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        load(20)  # warm-up: connections, templates, keys
        if os.environ.get("LOGIN_CPU_PAUSE"):
            print("gateway process group", gateway.pid, flush=True)
            time.sleep(float(os.environ["LOGIN_CPU_PAUSE"]))
        sent.clear()
        per_browser = args.logins // args.browsers
        counters = group_counters(gateway.pid)
        before, started = cpu_by_pid(group=gateway.pid), time.perf_counter()
        load(per_browser)
        elapsed, after = time.perf_counter() - started, cpu_by_pid(group=gateway.pid)
        user, system, faults = (b - a for a, b in zip(counters, group_counters(gateway.pid), strict=True))
        logins = per_browser * args.browsers
        print(
            f"{logins} logins in {elapsed:.1f} s ({logins / elapsed:.0f}/s), "
            f"{sum(sent) / logins:.0f} requests per login; "
            f"gateway CPU per login {cpu_spent(before, after) / logins * 1000:.2f} ms "
            f"(user {user / logins * 1000:.2f}, system {system / logins * 1000:.2f}; "
            f"{faults / logins:.0f} minor faults)"
        )
    finally:
        for child in (gateway, iam):
            os.killpg(child.pid, signal.SIGTERM)
            child.wait()


if __name__ == "__main__":
    main()
