"""Flask's ensure_sync asked once per plain function (gateway/__init__.py, issue 18): the same function back,
hooks and views run as before, and a coroutine function is never taken for a plain one."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from gateway import create_app


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("POLIS_ENV", "test")
    return create_app({"RATELIMIT_ENABLED": False})


def test_a_plain_function_is_itself_every_time(app: Any) -> None:
    def view() -> str:
        return "ok"

    partial = functools.partial(view)
    for _ in range(3):
        assert app.ensure_sync(view) is view
        assert app.ensure_sync(partial) is partial


def test_a_coroutine_function_is_never_taken_for_a_plain_one(app: Any) -> None:
    async def view() -> str:
        return "ok"

    for _ in range(2):  # Flask's own answer each time: without asgiref, its request to install it
        with pytest.raises(RuntimeError, match="async"):
            app.ensure_sync(view)


def test_an_unhashable_callable_gets_flasks_answer(app: Any) -> None:
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self) -> str:
            return "ok"

    handler = Unhashable()
    assert app.ensure_sync(handler) is handler


def test_pages_and_hooks_run_as_before(app: Any) -> None:
    client = app.test_client()
    for _ in range(2):
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["X-Frame-Options"] == "DENY"  # an after-request hook ran
        assert client.get("/healthz").get_json() == {"status": "ok"}
