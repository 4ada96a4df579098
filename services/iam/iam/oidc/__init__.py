"""IAM as OpenID Connect provider (issue 5): the grants, token generation, the token endpoints and
discovery on Authlib's server (server.py), authorize/token/logout (views), consent, one-time codes, refresh
families and back-channel logout. Sign-in itself is iam.signin; clients iam.clients; keys iam.keys."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """The authorization server, the protocol endpoints and the consent page."""
    from iam.oidc import server, token_route
    from iam.oidc.consent_views import blueprint as consent_pages
    from iam.oidc.views import allow_client_form_action, protocol

    server.build_server(app)
    app.register_blueprint(protocol)
    token_route.install(app)  # POST /oidc/token below Flask's dispatch (the view answers what it hands over)
    app.after_request(allow_client_form_action)
    app.register_blueprint(consent_pages)  # the consent page of clients that are not trusted
    # CSRF: iam.pages exempts /oidc/ and /api/ (their own protocol checks protect them).
