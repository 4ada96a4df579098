"""Cross-service tests: the process fixtures of polis.testing and the `stack` fixtures of tests/support.

tests/ has no __init__.py, so pytest (prepend import mode, scripts/test.sh) puts it on sys.path before it
imports this file: tests/support is the package `support`, and tests/chaos's modules import each other."""

pytest_plugins = ["polis.testing.plugin", "polis.testing.smtp", "support.stack"]
