"""The Content-Security-Policy of every answer, and the one widening IAM may ask for (issue 5)."""

from __future__ import annotations

from flask import Flask, Response
from gateway.security import CONTENT_SECURITY_POLICY, FORM_ACTION_HEADER, register_security_headers


def app_answering(header: str | None) -> Flask:
    app = Flask(__name__)
    app.config["GATEWAY_SECURE_COOKIES"] = False

    @app.get("/page")
    def page() -> Response:
        response = Response("<form></form>", mimetype="text/html")
        if header is not None:
            response.headers[FORM_ACTION_HEADER] = header
        return response

    register_security_headers(app)
    return app


def test_pages_may_post_forms_to_the_site_only() -> None:
    response = app_answering(None).test_client().get("/page")

    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "form-action 'self';" in CONTENT_SECURITY_POLICY


def test_issue_5_iam_widens_form_action_to_one_client_origin_for_one_page() -> None:
    response = app_answering("https://pagoinrete.example.org").test_client().get("/page")

    policy = response.headers["Content-Security-Policy"]
    assert "form-action 'self' https://pagoinrete.example.org;" in policy
    assert policy.replace(" https://pagoinrete.example.org", "") == CONTENT_SECURITY_POLICY
    assert FORM_ACTION_HEADER not in response.headers  # internal: never reaches the browser


def test_issue_5_a_malformed_widening_is_ignored() -> None:
    for value in (
        "https://a.example.org; script-src *",
        "*",
        "javascript:alert(1)",
        "https://a.example.org/path",
    ):
        response = app_answering(value).test_client().get("/page")

        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert FORM_ACTION_HEADER not in response.headers
