"""The pages' per-address limits (gateway/ratelimit.py, issue 18): the rules Flask-Limiter applied, with the
limits parsed once per app instead of on every request."""

from __future__ import annotations

from gateway import create_app, ratelimit


def test_the_limits_are_parsed_when_the_app_is_made_not_on_each_request(settings, upstream, monkeypatch):
    app = create_app({"GATEWAY_SERVICES": {"iam": upstream.url}, "RATELIMIT_DEFAULT": "3 per minute"})
    client = app.test_client()
    assert client.get("/privacy").status_code == 200  # the endpoint's limits resolved once, here

    def no_parsing(_text: str) -> list:
        raise AssertionError("limits parsed again on a request")

    monkeypatch.setattr(ratelimit, "parse_many", no_parsing)
    assert [client.get("/privacy").status_code for _ in range(3)] == [200, 200, 429]


def test_a_page_over_its_limit_answers_429_with_retry_after_and_each_page_counts_apart(settings, upstream):
    app = create_app({"GATEWAY_SERVICES": {"iam": upstream.url}, "RATELIMIT_DEFAULT": "2 per minute"})
    client = app.test_client()
    assert [client.get("/privacy").status_code for _ in range(3)] == [200, 200, 429]
    refused = client.get("/privacy")
    assert refused.status_code == 429 and refused.mimetype == "text/html"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "Troppe richieste" in refused.get_data(as_text=True)
    assert client.get("/").status_code == 200  # another page, another count
    other = {"REMOTE_ADDR": "192.0.2.9"}  # another address, another count
    assert client.get("/privacy", environ_base=other).status_code == 200


def test_probes_unmatched_paths_and_the_backchannel_logout_are_not_under_the_page_limit(settings, upstream):
    app = create_app(
        {
            "GATEWAY_SERVICES": {"iam": upstream.url},
            "RATELIMIT_DEFAULT": "1 per minute",
            "RATELIMIT_TOKEN_ENDPOINTS": "3 per minute",
        }
    )
    client = app.test_client()
    for probe in ("/healthz", "/readyz", "/metrics"):
        assert {client.get(probe).status_code for _ in range(3)} == {200}
    assert {client.get("/no-such-page").status_code for _ in range(3)} == {404}
    # The back-channel logout has the token endpoints' limit (a bad token is a 400, counted all the same).
    statuses = [client.post("/accedi/backchannel-logout").status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]


def test_no_limits_when_rate_limiting_is_off(settings, upstream):
    app = create_app(
        {
            "GATEWAY_SERVICES": {"iam": upstream.url},
            "RATELIMIT_DEFAULT": "1 per minute",
            "RATELIMIT_ENABLED": False,
        }
    )
    client = app.test_client()
    assert {client.get("/privacy").status_code for _ in range(3)} == {200}
