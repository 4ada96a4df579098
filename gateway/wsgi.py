"""A WSGI entry point for any WSGI server (`flask run` in development, or gunicorn if you must).

The gateway's own server is `gateway-web` (Granian, gateway/gateway/server.py), which the image runs.
"""

from gateway import create_app

app = create_app()
