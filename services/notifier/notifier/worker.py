"""The notifier worker (`python -m notifier.worker`): consumes events into deliveries and sends the mail.

The consumer runs in this process; the mail sender runs in `NOTIFIER_SENDER_PROCESSES` child processes
(default 1), forked at start (before any thread or connection exists, so the child starts at once with
everything imported) and watched here, so that the two halves do not share one interpreter lock: the
consumer's parsing and database work and the sender's rendering and SMTP exchanges use a core each. The
processes share nothing but the database: the sender claims what the consumer committed. A child that
dies stops the worker (its supervisor restarts the whole); a worker that dies takes its children with it
(the parent-death signal where the kernel honours it, else the sender notices within WATCH_INTERVAL and
stops after its current batch). `NOTIFIER_SENDER_PROCESSES=0`, or a platform without fork, runs the
sender as a thread of this process.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from polis.rpc import RpcClient
from polis.service import consumer_loop, run_worker
from polis.worker import Loop
from prometheus_client import start_http_server

from notifier.accounts import iam as iam_accounts
from notifier.config import SERVICE, load_settings
from notifier.delivery.sender import MailSender
from notifier.extensions import db
from notifier.messaging.handlers import HANDLERS, handle_batch
from notifier.models import processed_events

log = logging.getLogger("notifier.worker")

# Below polis.worker's 15 s join: a sender finishing its batch gets this long before it is killed.
SENDER_STOP_TIMEOUT = 12.0
# How often a sender checks that its worker is still there (where the parent-death signal is not sent).
WATCH_INTERVAL = 0.2
PR_SET_PDEATHSIG = 1  # linux/prctl.h
PR_SET_NAME = 15


def main() -> int:
    settings = load_settings()
    # Handlers first: a SIGTERM that arrives while the senders are being forked stops the worker cleanly
    # (and, through it, the senders) instead of killing it half-started.
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    senders = settings["SENDER_PROCESSES"] if hasattr(os, "fork") else 0
    # Forked first: no thread, no connection and no logging listener exists yet to be copied half-way.
    children = [_fork_sender(settings, index) for index in range(senders)]
    if settings["WORKER_METRICS_PORT"] and not children:
        # The sender's counters (sent, failed, retried, lag) live in this process: scraped here.
        start_http_server(settings["WORKER_METRICS_PORT"], addr="127.0.0.1")

    def loops() -> list[Loop]:
        # Asked only for a message whose account the read model does not know (notifier.accounts.iam).
        iam_accounts.configure(RpcClient(settings["BROKER_URL"], timeout=iam_accounts.TIMEOUT_SECONDS))
        consumer = consumer_loop(
            service=SERVICE,
            db=db,
            table=processed_events,
            broker_url=settings["BROKER_URL"],
            handlers=HANDLERS,
            batch_handler=handle_batch,
            retry_delays=settings["EVENT_RETRY_DELAYS"],
        )
        if not children:
            return [consumer, Loop("mail-sender", MailSender.from_settings(settings, db).run)]
        return [consumer, Loop("mail-senders", _supervise(children))]

    return run_worker(settings, db, loops, stop_event=stop)


def _fork_sender(settings: Mapping[str, Any], index: int) -> int:
    """A child process running the mail sender alone; its pid (the child never returns from here)."""
    worker_pid = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        code = _sender_process(settings, index=index, worker_pid=worker_pid)
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)  # never the parent's exit path (atexit handlers, its finally blocks)


def _supervise(pids: list[int]) -> Callable[[threading.Event], None]:
    """A loop that stops the worker when a sender process exits, and stops the senders at the end."""
    alive = set(pids)

    def reap(pid: int) -> int | None:
        done, status = os.waitpid(pid, os.WNOHANG)
        if not done:
            return None
        alive.discard(pid)
        return os.waitstatus_to_exitcode(status)

    def run(stop: threading.Event) -> None:
        log.info("mail senders started", extra={"pids": ",".join(map(str, pids))})
        try:
            while not stop.wait(0.5):
                for pid in list(alive):
                    code = reap(pid)
                    if code is not None:
                        raise RuntimeError(f"mail sender process {pid} exited with {code}")
        finally:
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + SENDER_STOP_TIMEOUT
            while alive and time.monotonic() < deadline:
                for pid in list(alive):
                    reap(pid)
                time.sleep(0.05)
            for pid in list(alive):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)

    return run


def _sender_process(settings: Mapping[str, Any], *, index: int, worker_pid: int) -> int:
    """In the forked child: the mail sender loop alone, ended with the worker."""
    if not _die_with(worker_pid):
        return 1
    if settings["WORKER_METRICS_PORT"]:
        # The sender's counters live here; further senders, if any, on the following ports.
        start_http_server(settings["WORKER_METRICS_PORT"] + index, addr="127.0.0.1")

    def watch(stop: threading.Event) -> None:
        # Where the parent-death signal is not sent: a sender outliving its worker stops (after its batch).
        while not stop.wait(WATCH_INTERVAL):
            if os.getppid() != worker_pid:
                log.warning("the worker is gone: mail sender stopping")
                return

    def loops() -> list[Loop]:
        sender = MailSender.from_settings(settings, db)
        sender.worker_pid = worker_pid
        return [Loop("mail-sender", sender.run), Loop("worker-watch", watch)]

    return run_worker(settings, db, loops)


def _die_with(worker_pid: int) -> bool:
    """Have the kernel SIGKILL this process when the worker dies (Linux); False if it is already gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        libc.prctl(PR_SET_NAME, b"notifier-sender", 0, 0, 0)  # `ps -o comm`, /proc/<pid>/stat
    return os.getppid() == worker_pid  # else the worker died before the signal was asked for


if __name__ == "__main__":
    sys.exit(main())
