"""WSGI entry point of the IAM web process (gunicorn loads `wsgi:app`)."""

from iam import create_app

app = create_app()
