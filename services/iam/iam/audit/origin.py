"""The Origin of the current Flask request: client address, user agent and request id."""

from __future__ import annotations

from flask import request
from polis import requestid

from iam.audit.service import Origin


def current_origin() -> Origin:
    """The origin as the gateway reported it (X-Forwarded-For is set by the gateway, never by the browser)."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    address = forwarded.split(",")[0].strip() or request.remote_addr
    return Origin(
        source_address=address,
        user_agent=request.headers.get("User-Agent"),
        request_id=requestid.current_request_id(),
    )
