"""Gunicorn settings of the enablement web process: ENABLEMENT_BIND (127.0.0.1:8102), _WORKERS, _THREADS."""

from polis.service import gunicorn_settings

# Gunicorn reads its settings from this module's globals.
globals().update(gunicorn_settings("enablement", default_port=8102))
