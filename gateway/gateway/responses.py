"""The gateway's Flask answers handed to the server as one body (issue 18, P1-login).

A WSGI answer that is a list is written by Granian in one call (`response_bytes`); any other iterable takes
its streaming path (`response_iter`), which held the GIL for about a quarter of the gateway's Python time
under the login bench (py-spy: granian/wsgi.py's `_runner` at the `response_iter` line) although every page
answer is a single byte string already in memory. Werkzeug's Response always answers with an iterator (a
ClosingIterator over its encoded body), so the app's response class gives an answer whose body is a
sequence (a rendered page, a redirect, JSON, a forwarded page) as a list of its bytes, with the same status
and headers, and closes it at once; a streamed or passed-through body (a static file, a generator) is
answered as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Response


class WholeBodyResponse(Response):
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.direct_passthrough or not self.is_sequence:
            return super().__call__(environ, start_response)
        app_iter, status, headers = self.get_wsgi_response(environ)
        try:
            body = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:  # the response's own close and its call_on_close callbacks
                close()
        start_response(status, headers)
        return [body]
