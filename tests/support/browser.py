"""A scripted browser for the end-to-end tests: cookies, redirects one hop at a time, forms with their CSRF
token, JSON calls. Pages through the real gateway, exactly as a person's browser would reach them."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from typing import Any

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    """Cookies and redirects, one hop at a time; `trail` lists the paths visited."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), NoRedirect()
        )
        self.trail: list[str] = []

    def request(
        self,
        url: str,
        data: dict[str, str] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str, str]:
        url = urllib.parse.urljoin(self.base, url)
        all_headers = dict(headers or {})
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        elif data is not None:
            body = urllib.parse.urlencode(data).encode()
        request = urllib.request.Request(url, data=body, headers=all_headers)  # noqa: S310 - the local stack
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, url, response.read().decode()
        except urllib.error.HTTPError as error:
            if error.code in (301, 302, 303, 307):
                return error.code, urllib.parse.urljoin(url, error.headers["Location"]), ""
            return error.code, url, error.read().decode()

    def go(self, url: str, data: dict[str, str] | None = None, max_hops: int = 12) -> tuple[int, str, str]:
        status, where, body = self.request(url, data)
        self.trail.append(urllib.parse.urlsplit(urllib.parse.urljoin(self.base, url)).path)
        for _ in range(max_hops):
            if status not in (301, 302, 303, 307):
                return status, url, body
            url = where
            self.trail.append(urllib.parse.urlsplit(url).path)
            status, where, body = self.request(url)
        raise AssertionError(f"too many redirects: {self.trail}")

    def api(
        self, method_path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        status, _, text = self.request(method_path, json_body=body, headers=headers)
        return status, json.loads(text) if text else None

    def log_out(self) -> tuple[int, str, str]:
        """ "Esci": GET /esci shows the confirmation, whose form posts the session's token (a GET alone
        logs nobody out); then IAM's end-session and back to the portal."""
        return self.form("/esci", "/esci", {})

    def form(self, page_url: str, action: str, fields: dict[str, str]) -> tuple[int, str, str]:
        """Open a page, take its CSRF token, post its form like a browser."""
        status, _, page = self.go(page_url)
        assert status == 200, (self.trail, page[:500])
        token = CSRF.search(page).group(1)  # type: ignore[union-attr]
        return self.go(action, {**fields, "csrf_token": token})
