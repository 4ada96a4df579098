"""`make migrate`: applies every service's migrations (the stack itself is polis.testing.devstack)."""

import sys

from polis.testing.devstack import main

if __name__ == "__main__":
    sys.exit(main())
