"""Gunicorn settings of the istanze web process: ISTANZE_BIND (127.0.0.1:8103), _WORKERS, _THREADS."""

from polis.service import gunicorn_settings

# Gunicorn reads its settings from this module's globals.
globals().update(gunicorn_settings("istanze", default_port=8103))

# A new worker renders a sample receipt and compiles the contracts a submission needs before its first
# request (istanze.warmup), so the first submissions after a start do not pay for it.
from istanze.warmup import post_worker_init  # noqa: E402,F401
