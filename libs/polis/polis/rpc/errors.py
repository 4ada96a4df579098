"""What a caller of polis.rpc can be told: the owner did not answer, or it answered with an error."""

from __future__ import annotations

from polis.errors import ApiError, ServiceUnavailable


class RpcUnavailable(ServiceUnavailable):
    """No answer in time: the responder is down or slow, or the broker cannot be reached (a 503)."""

    def __init__(self, method: str, reason: str) -> None:
        super().__init__("The service that must answer is not available right now: try again shortly.")
        self.method = method
        self.reason = reason


class RpcRemoteError(ApiError):
    """The responder answered with an error (a request it refused, or a failure of its own)."""

    status = 502
    code = "upstream_error"

    def __init__(self, method: str, remote_code: str, message: str) -> None:
        super().__init__(f"{method} failed: {message}")
        self.method = method
        self.remote_code = remote_code
