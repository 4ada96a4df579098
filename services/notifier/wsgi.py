"""WSGI entry point of the notifier web process (gunicorn loads `wsgi:app`)."""

from notifier import create_app

app = create_app()
