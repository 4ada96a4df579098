"""Why a request's bearer token was refused, as RFC 6750 errors that also speak the Polis JSON error shape."""

from __future__ import annotations

from polis.errors import ApiError


class AuthError(ApiError):
    """A refusal the web layer answers with the JSON error shape and a `WWW-Authenticate: Bearer` header.

    `bearer_error` is the RFC 6750 code (None when the request carried no token at all: the RFC asks for no
    error code then, only the challenge); `scope` names the scope that would have been enough."""

    status = 401
    code = "unauthorized"
    message = "Authentication is required (Authorization: Bearer <access token>)."
    bearer_error: str | None = None

    def __init__(self, message: str | None = None, *, scope: str | None = None) -> None:
        super().__init__(message)
        self.scope = scope

    def www_authenticate(self, realm: str) -> str:
        params = [f'realm="{realm}"']
        if self.bearer_error:
            params.append(f'error="{self.bearer_error}"')
            # The description is ours (never the token's content), so it needs no escaping beyond quotes.
            params.append('error_description="{}"'.format(self.message.replace('"', "'")))
        if self.scope:
            params.append(f'scope="{self.scope}"')
        return "Bearer " + ", ".join(params)


class TokenRequired(AuthError):
    """No bearer token came with the request."""


class InvalidRequest(AuthError):
    status = 400
    code = "invalid_request"
    message = "The Authorization header is malformed."
    bearer_error = "invalid_request"


class InvalidToken(AuthError):
    """Expired, revoked, malformed, for another audience or issuer, or not signed by IAM: send a new one."""

    code = "invalid_token"
    message = "The access token is not valid."
    bearer_error = "invalid_token"


class InsufficientScope(AuthError):
    """A good token that does not allow this: a scope the client was not granted, or a missing role."""

    status = 403
    code = "insufficient_scope"
    message = "The access token does not allow this operation."
    bearer_error = "insufficient_scope"


class KeysUnavailable(ApiError):
    """IAM's keys could not be fetched: the token may well be good, so this is 503, not 401."""

    status = 503
    code = "service_unavailable"
    message = "The identity provider's keys are not available at the moment: please try again shortly."
