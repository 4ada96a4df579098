"""`make migrate`: applies every service's migrations (the stack itself is polis.testing.devstack)."""

import sys

# tests/bench/p6_deadline.py still imports the stack from here (the benches are being reworked apart).
from polis.testing.devstack import Stack, main
from polis.testing.stack_layout import SERVICES, StackConfig

__all__ = ["SERVICES", "Stack", "StackConfig", "main"]

if __name__ == "__main__":
    sys.exit(main())
