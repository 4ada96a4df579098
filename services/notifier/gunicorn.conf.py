"""Gunicorn settings of the notifier web process: NOTIFIER_BIND (127.0.0.1:8104), _WORKERS, _THREADS."""

from polis.service import gunicorn_settings

# Gunicorn reads its settings from this module's globals.
globals().update(gunicorn_settings("notifier", default_port=8104))
