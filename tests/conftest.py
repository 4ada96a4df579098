"""Cross-service tests: the process fixtures of polis.testing and the `stack` fixtures of tests/support."""

import sys
from pathlib import Path

# tests/support is imported as the package `support` (the suite runs with --import-mode=importlib).
sys.path.insert(0, str(Path(__file__).resolve().parent))

pytest_plugins = ["polis.testing.plugin", "polis.testing.smtp", "support.stack"]
