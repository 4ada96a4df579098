"""The client registry (issue 5, item 1): who may ask IAM for tokens, its rules, the ops API under
/api/iam/v1/ops/oidc-clients (views), the `oidc-client` commands (cli) and the demo clients (demo)."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """The registry's ops API and commands; a new app (tests) starts with an empty client cache."""
    from iam.clients import service
    from iam.clients.cli import group
    from iam.clients.views import blueprint

    service.forget_cached()
    app.register_blueprint(blueprint)
    app.cli.add_command(group)
