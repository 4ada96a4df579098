"""The token signing keys (issue 5, item 3): sealed at rest (sealing), their lives and rotation (service),
the compact JWS they sign (signing), the ops API (views), the `oidc-keys` commands (cli) and the worker's
rotation loop (loop)."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Configure the keys from the app's settings (a malformed KEK stops the start), add the ops API and
    the commands."""
    from iam.keys import service
    from iam.keys.cli import group
    from iam.keys.views import blueprint

    # The in-process caches belong to one database: a new app (tests) starts with empty ones.
    service.forget_cached()
    service.configure(service.KeySettings.from_config(app.config))
    app.register_blueprint(blueprint)
    app.cli.add_command(group)
