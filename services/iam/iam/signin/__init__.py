"""Signing in to IAM (D-ACC-4): the SSO session (sessions), the login and the forced password change
(login), the brute-force locks (bruteforce) and their unlock link (unlock), and their pages (views)."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """The SSO session's settings, the login policy, the pages and the ops unlock."""
    from iam.signin import sessions
    from iam.signin.login import LoginPolicy
    from iam.signin.views import LOGIN_POLICY, ops, pages

    sessions.register_sessions(app)
    app.extensions[LOGIN_POLICY] = LoginPolicy.from_settings(app.config)
    app.register_blueprint(pages)
    app.register_blueprint(ops)
