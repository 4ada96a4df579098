"""The partner demo "Pago in rete" (examples/pagoinrete_demo) as one more process of a started stack.

Used by scripts/run.py (`make run`, port 8090) and by the cross-service tests (a free port). It starts after
the stack: IAM must be up and the demo's client registered (IAM's demo data) before anyone signs in.
"""

from __future__ import annotations

from polis.testing.devstack import Stack
from polis.testing.ports import port_in_use
from polis.testing.processes import ManagedProcess, StackError
from polis.testing.stack_layout import ROOT, VENV_BIN

NAME = "pagoinrete-demo"
DEFAULT_PORT = 8090
DEMO_DIR = ROOT / "examples" / "pagoinrete_demo"
# The client secret IAM registers for the demo (its demo data) is what the demo presents.
SECRET_SETTING = "IAM_PARTNER_CLIENT_SECRET_PAGOINRETE"  # noqa: S105 - a variable name


def base_url(port: int) -> str:
    return f"http://localhost:{port}"


def demo_process(stack: Stack, port: int) -> ManagedProcess:
    """The demo under gunicorn with ONE worker: its session record is a dict in that process (README)."""
    env = stack.environment(NAME)
    env.update(
        {
            "PAGOINRETE_ISSUER": stack.gateway_url,  # IAM's public base: the gateway forwards /oidc/ to it
            "PAGOINRETE_BASE_URL": base_url(port),
        }
    )
    if env.get(SECRET_SETTING):
        env["PAGOINRETE_CLIENT_SECRET"] = env[SECRET_SETTING]
    argv = [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4"]
    # The access log names paths only: the callback's query string carries the authorization code.
    argv += ["--access-logfile", "-", "--access-logformat", '%(h)s "%(m)s %(U)s" %(s)s %(M)sms']
    argv += ["--graceful-timeout", "5", "pagoinrete_demo:create_app()"]
    return ManagedProcess(
        NAME,
        argv,
        cwd=DEMO_DIR,
        env=env,
        log_path=stack.log_dir / f"{NAME}.log",
        ready_url=f"http://127.0.0.1:{port}/healthz",
    )


def start_demo(stack: Stack, port: int = DEFAULT_PORT, timeout: float = 30.0) -> ManagedProcess:
    """Start the demo as a process of `stack` (stack.stop() stops it too) and wait for its /healthz."""
    if port_in_use(port):
        raise StackError(f"port already in use: {port} (partner demo). Stop whatever holds it (`ss -ltnp`).")
    process = demo_process(stack, port)
    stack.processes[process.name] = process  # watched and stopped with the others
    process.start()
    process.wait_ready(timeout)
    return process
