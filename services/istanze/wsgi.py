"""WSGI entry point of the istanze web process (gunicorn loads `wsgi:app`)."""

from istanze import create_app

app = create_app()
