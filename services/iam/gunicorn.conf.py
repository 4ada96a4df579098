"""Gunicorn settings of the IAM web process: IAM_BIND (127.0.0.1:8101), IAM_WORKERS, IAM_THREADS."""

from polis.service import gunicorn_settings

# Gunicorn reads its settings from this module's globals.
globals().update(gunicorn_settings("iam", default_port=8101))
