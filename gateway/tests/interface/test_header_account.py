"""Issue 13 item 2: every page's header shows who is signed in, whichever app rendered it."""

from gateway import create_app

USER = {"sub": "s1", "username": "marta.greco", "given_name": "Marta", "family_name": "Greco"}


def _client(settings, upstream, *, signed_in: bool):
    app = create_app({"GATEWAY_SERVICES": {"iam": upstream.url, "enablement": upstream.url}, **settings})
    client = app.test_client()
    if signed_in:
        with client.session_transaction() as session:
            session["user"] = USER
    return client


def test_a_forwarded_iam_page_names_the_signed_in_user_with_the_account_menu(settings, upstream):
    response = _client(settings, upstream, signed_in=True).get("/iam/registrazione/layout")
    page = response.get_data(as_text=True)
    assert "Marta Greco" in page and 'href="/iam/area-riservata"' in page
    assert '<form class="logout-form" method="post" action="/esci">' in page  # issue 13 item 7: a POST
    assert 'name="csrf_token" value="' in page and 'href="/esci"' not in page
    assert 'href="/accedi"' not in page
    assert "&lt;!--polis:account--&gt;" in page  # the page's own (escaped) content is left alone
    assert "no-store" in response.headers["Cache-Control"]


def test_a_forwarded_service_page_gets_the_menu_in_the_pages_language(settings, upstream):
    page = (
        _client(settings, upstream, signed_in=True)
        .get("/abilitazione/x/layout?lang=en")
        .get_data(as_text=True)
    )
    assert "Marta Greco" in page and "Log out" in page and "Personal area" in page


def test_signed_out_the_forwarded_page_keeps_its_accedi(settings, upstream):
    page = _client(settings, upstream, signed_in=False).get("/iam/layout").get_data(as_text=True)
    assert 'href="/accedi"' in page and "Marta" not in page


def test_the_gateways_own_pages_and_the_404_name_the_signed_in_user(settings, upstream):
    client = _client(settings, upstream, signed_in=True)
    for path in ("/", "/no-such-page"):
        page = client.get(path).get_data(as_text=True)
        assert "Marta Greco" in page and 'id="account-menu"' in page, path


def test_issue_13_the_home_page_links_to_the_registration_in_both_languages(settings, upstream):
    client = _client(settings, upstream, signed_in=False)
    assert 'href="/iam/registrazione/step1">Registrati<' in client.get("/").get_data(as_text=True)
    client.set_cookie("lang", "en")
    assert 'href="/iam/registrazione/step1">Sign up<' in client.get("/").get_data(as_text=True)
