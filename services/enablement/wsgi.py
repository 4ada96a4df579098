"""WSGI entry point of the enablement web process (gunicorn loads `wsgi:app`)."""

from enablement import create_app

app = create_app()
