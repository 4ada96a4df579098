"""Gunicorn settings of the istanze web process: ISTANZE_BIND (127.0.0.1:8103), _WORKERS, _THREADS."""

from polis.service import gunicorn_settings

# Gunicorn reads its settings from this module's globals.
globals().update(gunicorn_settings("istanze", default_port=8103))
