"""Runs a service's background loops (outbox relay, consumer, ...) as threads until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger("polis.worker")


@dataclass(frozen=True)
class Loop:
    """A named loop: run(stop_event) must return soon after stop_event is set."""

    name: str
    run: Callable[[threading.Event], None]


def run_loops(loops: Sequence[Loop], *, stop_event: threading.Event | None = None) -> int:
    """Run every loop in its own thread; stop all on a signal or when any loop dies; return an exit code."""
    stop = stop_event or threading.Event()
    failed = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        log.info("stopping on signal", extra={"signal": signal.Signals(signum).name})
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)

    def _guard(loop: Loop) -> None:
        try:
            loop.run(stop)
        except BaseException:
            log.exception("loop died", extra={"loop": loop.name})
            failed.set()
        finally:
            # One dead loop stops the worker: a supervisor restarts it whole instead of half running.
            stop.set()

    threads = [threading.Thread(target=_guard, args=(loop,), name=loop.name, daemon=True) for loop in loops]
    for thread in threads:
        thread.start()
    log.info("worker started", extra={"loops": ",".join(loop.name for loop in loops)})
    while not stop.wait(0.5):
        pass
    for thread in threads:
        thread.join(timeout=15)
    alive = [thread.name for thread in threads if thread.is_alive()]
    if alive:
        log.error("loops did not stop in time", extra={"loops": ",".join(alive)})
    return 1 if failed.is_set() or alive else 0
