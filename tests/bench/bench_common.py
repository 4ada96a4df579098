"""What the benches share: CPU accounting from /proc (by process group, parent, session or pid) and the
broker's "wait until the queue exists" (polis.testing's, re-exported). Linux only."""

from __future__ import annotations

import os
from pathlib import Path

from polis.testing.rabbitmq import wait_for_queue

__all__ = [
    "cpu_by_pid",
    "cpu_seconds",
    "cpu_spent",
    "proc_stats",
    "process_cpu",
    "stat_fields",
    "wait_for_queue",
]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (which is in parentheses and may hold spaces):
    [1] ppid, [2] pgid, [3] session, [11] [12] utime stime, [13] [14] of reaped children; None once gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def proc_stats() -> list[tuple[int, int, int, float]]:
    """(pid, ppid, pgid, cpu seconds) of every process, from /proc."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = stat_fields(int(name))
        if fields is None:
            continue
        found.append(
            (int(name), int(fields[1]), int(fields[2]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
        )
    return found


def cpu_by_pid(*, group: int | None = None, parent: int | None = None) -> dict[int, float]:
    """CPU used so far by each process of a process group (a gunicorn and its workers), or of a process
    and its children (PostgreSQL's postmaster and its backends)."""
    return {
        pid: cpu
        for pid, ppid, pgid, cpu in proc_stats()
        if (group is not None and pgid == group) or (parent is not None and parent in (pid, ppid))
    }


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two snapshots (a process that ended in between is not counted: a lower bound)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def cpu_seconds(*, group: int | None = None, parent: int | None = None) -> float:
    """User + system CPU seconds so far of every live process of a group, or of a process and its children."""
    return sum(cpu_by_pid(group=group, parent=parent).values())


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads)."""
    fields = stat_fields(pid)
    if fields is None:
        raise ProcessLookupError(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
