"""`make run`: start the whole system locally, watch it, stop everything it started on Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from polis.testing.devstack import Stack, format_urls
from polis.testing.partner_demo import DEFAULT_PORT as DEMO_PORT
from polis.testing.partner_demo import base_url as demo_url
from polis.testing.partner_demo import start_demo
from polis.testing.ports import port_in_use
from polis.testing.processes import StackAborted, StackError
from polis.testing.stack_layout import DEFAULT_PORTS, ROOT, StackConfig


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-dir", type=Path, default=ROOT / "var", help="data and logs (default: var/)")
    parser.add_argument("--no-demo-data", action="store_true", help="do not load the demonstration data")
    parser.add_argument(
        "--no-management", action="store_true", help="do not enable the RabbitMQ management UI (15672)"
    )
    parser.add_argument("--port-offset", type=int, default=0, help="add this to every default port")
    parser.add_argument(
        "--web-workers",
        type=int,
        default=1,
        help="worker processes per web process (gunicorn; the gateway's Granian)",
    )
    parser.add_argument(
        "--no-partner-demo", action="store_true", help="do not start the partner demo Pago in rete (8090)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    demo_port = None if args.no_partner_demo else DEMO_PORT + args.port_offset
    config = StackConfig(
        base_dir=args.base_dir,
        ports={name: port + args.port_offset for name, port in DEFAULT_PORTS.items()},
        demo_data=not args.no_demo_data,
        rabbitmq_management=not args.no_management,
        web_workers=args.web_workers,
        # IAM's demo data registers the demo's redirect and back-channel URIs at this address.
        env={"IAM_PAGOINRETE_DEMO_URL": demo_url(demo_port)} if demo_port is not None else {},
    )
    stack = Stack(config)
    if demo_port is not None and port_in_use(demo_port):
        print(f"run: port already in use: {demo_port} (partner demo); `ss -ltnp` names it", file=sys.stderr)
        return 1

    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # Only flags here: the main thread notices and stops everything in order; repeated signals are no-ops.
        if not stopping.is_set():
            print(f"\n==> {signal.Signals(signum).name}: stopping", flush=True)
        stopping.set()
        stack.abort()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        stack.start(on_step=say)  # stops what it started when it fails or is aborted
    except StackAborted:
        say("stopped before the system was ready")
        return 130
    except StackError as error:
        print(f"run: {error}", file=sys.stderr, flush=True)
        return 1
    if demo_port is not None:
        # After the stack: IAM is up and its demo data has registered the demo's client.
        say(f"starting the partner demo Pago in rete on {demo_port}")
        try:
            start_demo(stack, demo_port)
        except StackError as error:
            print(f"run: {error}", file=sys.stderr, flush=True)
            _stop(stack)
            return 1

    print(
        f"\nPolis is ready in {stack.timings['ready']:.1f}s ({_breakdown(stack)}). Logs in {stack.log_dir}/\n"
    )
    urls = stack.urls()
    if demo_port is not None:
        first = {key: urls.pop(key) for key in ("portal",) if key in urls}
        urls = {**first, "partner demo": f"{demo_url(demo_port)} (Pago in rete)", **urls}
    for line in format_urls(urls):
        print(line)
    print("\nCtrl-C stops everything.", flush=True)

    code = 0
    while not stopping.wait(0.5):
        dead = stack.unexpected_exits()
        for process in dead:
            print(
                f"\nrun: {process.name} exited unexpectedly (code {process.returncode}); "
                f"last lines of {process.log_path}:\n{process.log_tail()}",
                file=sys.stderr,
                flush=True,
            )
        if dead:
            # A system with a part missing would only mislead: stop the rest too.
            code = 1
            break
    _stop(stack)
    return code


def _breakdown(stack: Stack) -> str:
    # Seconds from the start at which each part was ready: shows what a slow start waited for.
    parts = {"migrations": stack.timings.get("migrations"), "RabbitMQ": stack.timings.get("rabbitmq")}
    webs = [t for name, t in stack.timings.items() if name.endswith("-web") or name == "gateway"]
    parts["web"] = max(webs, default=None)
    return ", ".join(f"{name} at {t:.1f}s" for name, t in parts.items() if t is not None)


def _stop(stack: Stack) -> None:
    say("stopping the partner demo, the gateway, services, MailDev and RabbitMQ")
    began = time.monotonic()
    stack.stop()
    say(f"stopped in {time.monotonic() - began:.1f}s")


if __name__ == "__main__":
    sys.exit(main())
