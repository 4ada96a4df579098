"""The server-rendered pages: layout, languages, security headers, CSRF, rate limits."""

from flask_wtf.csrf import generate_csrf

from gateway import create_app


def test_the_home_page_presents_the_service_in_italian_by_default(client):
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="it">' in page
    assert "Registrazione" in page and "Abilitazione" in page
    assert "Dichiarazione di accessibilità" in page
    assert "080 9267603" in page and "lunedì-venerdì 8:00-18:30" in page
    assert 'href="#main-content"' in page and "<main" in page and "<footer" in page


def test_the_language_switch_sets_a_cookie_and_the_next_page_is_english(client):
    response = client.get("/lingua/en?next=/privacy")
    assert response.status_code == 303
    assert response.headers["Location"] == "/privacy"
    assert "lang=en" in response.headers["Set-Cookie"]
    page = client.get("/privacy").get_data(as_text=True)
    assert '<html lang="en">' in page and "Log in" in page and "Monday to Friday" in page


def test_the_language_switch_never_redirects_to_another_site(client):
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        assert client.get("/lingua/it", query_string={"next": target}).headers["Location"] == "/"


def test_an_unknown_language_is_not_found(client):
    assert client.get("/lingua/xx").status_code == 404


def test_accept_language_chooses_english_when_there_is_no_cookie(client):
    page = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in page


def test_every_response_carries_the_security_headers(client):
    for response in (client.get("/"), client.get("/api/iam/x"), client.get("/missing")):
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert "Permissions-Policy" in response.headers
        assert len(response.headers["X-Request-ID"]) == 32


def test_templates_have_no_inline_script_or_style_the_csp_would_block(client):
    page = client.get("/").get_data(as_text=True)
    assert "<style" not in page and "style=" not in page
    assert "<script>" not in page and "onclick" not in page


def test_secure_cookies_bring_hsts_and_the_host_prefixed_session_cookie(settings, upstream):
    app = create_app(
        {"GATEWAY_SECURE_COOKIES": True, "SESSION_COOKIE_SECURE": True, "SESSION_COOKIE_NAME": "__Host-polis"}
    )
    response = app.test_client().get("/")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def _with_form_route(app):
    # A stand-in for the forms that arrive later: GET hands out a token, POST is the protected action.
    app.add_url_rule("/modulo-di-prova", "form_page", generate_csrf, methods=["GET"])
    app.add_url_rule("/modulo-di-prova", "form", lambda: "accepted", methods=["POST"])
    return app


def test_a_form_post_without_a_csrf_token_is_refused_with_a_readable_page(app):
    client = _with_form_route(app).test_client()
    response = client.post("/modulo-di-prova", data={"x": "1"})
    assert response.status_code == 400
    assert "ricarica la pagina" in response.get_data(as_text=True)


def test_a_form_post_with_its_csrf_token_is_accepted(app):
    client = _with_form_route(app).test_client()
    token = client.get("/modulo-di-prova").get_data(as_text=True)
    response = client.post("/modulo-di-prova", data={"csrf_token": token})
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "accepted"


def test_too_many_page_requests_get_a_readable_429_page(settings, upstream):
    app = create_app({"RATELIMIT_DEFAULT": "2 per minute"})
    client = app.test_client()
    statuses = [client.get("/").status_code for _ in range(3)]
    response = client.get("/")
    assert statuses == [200, 200, 429]
    assert "Troppe richieste" in response.get_data(as_text=True)


def test_too_many_api_requests_get_a_json_429(settings, upstream):
    app = create_app({"RATELIMIT_DEFAULT": "1 per minute", "GATEWAY_SERVICES": {"iam": upstream.url}})
    client = app.test_client()
    client.get("/api/iam/x")
    response = client.get("/api/iam/x")
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "too_many_requests"


def test_an_unexpected_error_is_a_500_page_without_a_stack_trace(app):
    def explode():
        raise RuntimeError("secret internals")

    app.add_url_rule("/boom", "boom", explode)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/boom")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "secret internals" not in body and "Traceback" not in body
    assert "080 9267603" in body
