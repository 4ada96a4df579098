"""The notifier database handle, created unbound: create_app or the worker configures it.

On SQLite, polis.db begins every transaction IMMEDIATE: two worker processes on one file (replicas, or a
restart overlapping the old process) wait their turn instead of failing a read-then-write transaction
with "database is locked" (the consumer would retry and park healthy events).
"""

from polis.db import Database

db = Database()
