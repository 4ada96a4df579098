"""The OpenID Connect provider on Authlib's Flask server: the grants (grants.py), token generation
(tokens.py) and endpoints (endpoints.py) put together."""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Error, OAuth2Request
from flask import Flask, Request, current_app
from flask import request as current_request

from iam.clients import service as clients
from iam.extensions import db
from iam.oidc.endpoints import BearerValidator, Introspection, Revocation, UserInfoView, forget_cached
from iam.oidc.grants import CodeGrant, IdToken, RefreshGrant, S256Challenge, ServiceGrant
from iam.oidc.statements import end_grant_transaction
from iam.oidc.tokens import generate_token, save_token

SERVER = "iam.oidc_server"


def query_client(client_id: str) -> clients.Client | None:
    return clients.find(db, client_id)


class Provider(AuthorizationServer):
    """Authlib's server; a token request's transaction (statements.grant_connection) never outlives it.
    An authorization request may be given (iam.oidc.authorization.request_for: the one a login POST
    continues); Flask's integration would always read the current request."""

    def create_oauth2_request(self, request: object) -> FlaskOAuth2Request:
        return FlaskOAuth2Request(request if isinstance(request, Request) else current_request)

    def token_answer(self, request: OAuth2Request) -> tuple[int, Any, list[tuple[str, str]]]:
        """Authlib's create_token_response for a request read without Flask (iam.oidc.token_route): the
        same grant look-up, validation and errors, the answer as (status, payload, headers) instead of
        a Flask Response."""
        try:
            try:
                grant = self.get_token_grant(request)
                grant.validate_token_request()
                status, payload, headers = grant.create_token_response()
            except OAuth2Error as error:
                status, payload, headers = error(self.get_error_uri(request, error))
            return status, payload, list(headers)
        finally:
            end_grant_transaction()  # a refused grant's: rolled back (save_token commits an issued one)

    def create_token_response(self, request: object = None) -> Any:
        try:
            return super().create_token_response(request)
        finally:
            end_grant_transaction()  # a refused grant's: rolled back (save_token commits an issued one)


def build_server(app: Flask) -> Provider:
    app.config.setdefault("OAUTH2_SCOPES_SUPPORTED", list(clients.SUPPORTED_SCOPES))
    server = Provider(app, query_client=query_client, save_token=save_token)
    server.register_token_generator("default", generate_token)
    server.register_grant(CodeGrant, [S256Challenge(required=True), IdToken(require_nonce=False)])
    server.register_grant(RefreshGrant)
    server.register_grant(ServiceGrant)
    protector = ResourceProtector()
    protector.register_token_validator(BearerValidator())
    server.register_endpoint(UserInfoView(resource_protector=protector))
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    app.extensions[SERVER] = server
    forget_cached(app)
    return server


def server() -> Provider:
    return current_app.extensions[SERVER]  # type: ignore[no-any-return]
