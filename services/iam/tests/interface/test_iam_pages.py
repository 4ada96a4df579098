"""IAM's page infrastructure (iam.pages): the shared layout, languages, CSRF, readable errors (D-ACC-9)."""

from flask import Flask
from flask.testing import FlaskClient
from flask_wtf.csrf import generate_csrf

HELPDESK = "080 9267603"


def test_the_iam_page_is_in_the_shared_layout_and_in_italian_by_default(client: FlaskClient) -> None:
    response = client.get("/iam/")
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert '<html lang="it">' in page and "Il tuo account" in page
    assert 'href="/iam/accedi"' in page and 'href="/iam/registrazione"' in page
    # The layout: the gateway's assets by absolute URL, language switch, "Accedi", helpdesk (D-ACC-9).
    assert 'href="/static/vendor/bootstrap-italia/css/bootstrap-italia.min.css?v=' in page
    assert 'href="/lingua/en?next=%2Fiam%2F"' in page
    assert '<a class="btn btn-primary btn-sm" href="/accedi">Accedi</a>' in page
    assert HELPDESK in page and "lunedì-venerdì 8:00-18:30" in page
    assert "Dichiarazione di accessibilità" in page


def test_the_lang_cookie_of_the_gateway_switch_makes_the_page_english(client: FlaskClient) -> None:
    client.set_cookie("lang", "en")

    page = client.get("/iam/").get_data(as_text=True)

    assert '<html lang="en">' in page and "Your account" in page
    # The layout's own strings come from the polis.ui catalog.
    assert ">Log in</a>" in page and "Accessibility statement" in page and "Monday to Friday" in page


def test_accept_language_chooses_english_without_a_cookie(client: FlaskClient) -> None:
    page = client.get("/iam/", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)

    assert '<html lang="en">' in page


def test_an_unknown_language_cookie_falls_back_to_italian(client: FlaskClient) -> None:
    client.set_cookie("lang", "xx")

    assert '<html lang="it">' in client.get("/iam/").get_data(as_text=True)


def test_pages_carry_no_inline_script_or_style_the_gateway_csp_would_block(client: FlaskClient) -> None:
    page = client.get("/iam/").get_data(as_text=True)

    assert "<style" not in page and "style=" not in page
    assert "<script>" not in page and "onclick" not in page


def _with_form(app: Flask) -> Flask:
    # A stand-in for the areas' forms: GET hands out the token, POST is the protected action.
    app.add_url_rule("/iam/modulo-di-prova", "form_page", generate_csrf, methods=["GET"])
    app.add_url_rule("/iam/modulo-di-prova", "form", lambda: "accepted", methods=["POST"])
    return app


def test_a_form_post_without_its_csrf_token_gets_a_readable_page(app: Flask) -> None:
    client = _with_form(app).test_client()

    response = client.post("/iam/modulo-di-prova", data={"nome": "Mario"})
    page = response.get_data(as_text=True)

    assert response.status_code == 400
    assert response.content_type.startswith("text/html")
    assert "ricarica la pagina" in page and HELPDESK in page


def test_the_csrf_page_follows_the_language_too(app: Flask) -> None:
    client = _with_form(app).test_client()
    client.set_cookie("lang", "en")

    page = client.post("/iam/modulo-di-prova", data={}).get_data(as_text=True)

    assert "reload the page" in page


def test_a_form_post_with_its_csrf_token_is_accepted_and_the_session_cookie_is_iam_s(app: Flask) -> None:
    client = _with_form(app).test_client()

    form_page = client.get("/iam/modulo-di-prova")
    response = client.post("/iam/modulo-di-prova", data={"csrf_token": form_page.get_data(as_text=True)})

    assert response.status_code == 200 and response.get_data(as_text=True) == "accepted"
    cookie = form_page.headers["Set-Cookie"]
    assert cookie.startswith("iam_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # dev/test only; production sets it (test_iam_page_settings.py)


def test_the_json_api_needs_no_csrf_token(client: FlaskClient) -> None:
    # A CSRF refusal would be a 400 before routing; the API answers for itself, in JSON.
    response = client.post("/api/iam/v1/nothing-here", json={"x": 1})

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_an_unknown_page_is_a_404_page_with_the_helpdesk_contact(client: FlaskClient) -> None:
    response = client.get("/iam/non-esiste")
    page = response.get_data(as_text=True)

    assert response.status_code == 404
    assert "Pagina non trovata" in page and HELPDESK in page and '<html lang="it">' in page


def test_api_errors_keep_the_json_shape(client: FlaskClient) -> None:
    response = client.get("/api/iam/v1/nothing-here")

    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_oidc_paths_answer_browsers_with_a_page_and_programs_in_json(client: FlaskClient) -> None:
    browser = client.get("/oidc/non-esiste", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    program = client.get("/oidc/non-esiste", headers={"Accept": "application/json"})

    assert browser.status_code == 404 and "Pagina non trovata" in browser.get_data(as_text=True)
    assert program.status_code == 404 and program.get_json()["error"]["code"] == "not_found"


def test_an_unexpected_error_is_a_500_page_without_the_trace(app: Flask) -> None:
    def explode() -> str:
        raise RuntimeError("secret internals")

    app.add_url_rule("/iam/boom", "boom", explode)
    app.add_url_rule("/api/iam/v1/boom", "api_boom", explode)
    client = app.test_client()

    page = client.get("/iam/boom")
    api = client.get("/api/iam/v1/boom")

    body = page.get_data(as_text=True)
    assert page.status_code == 500 and "secret internals" not in body and "Traceback" not in body
    assert "Si è verificato un errore" in body and HELPDESK in body
    assert api.status_code == 500 and api.get_json()["error"]["code"] == "internal_error"
    assert "secret internals" not in api.get_data(as_text=True)


def test_a_wrong_method_on_a_page_is_a_405_page_that_names_the_allowed_ones(app: Flask) -> None:
    app.add_url_rule("/iam/solo-invio", "only_post", lambda: "sent", methods=["POST"])

    response = app.test_client().get("/iam/solo-invio")

    assert response.status_code == 405 and "POST" in response.headers["Allow"]
    assert "Operazione non consentita" in response.get_data(as_text=True)
