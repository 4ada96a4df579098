"""The provider metadata (/.well-known/openid-configuration): exactly what is supported, nothing more."""

from __future__ import annotations

from typing import Any

from iam.clients import service as clients
from iam.oidc.users import FISCAL_NUMBER_CLAIM, issuer


def discovery() -> dict[str, Any]:
    """The provider metadata: exactly what is supported, nothing more."""
    base = issuer()
    secret_methods = ["client_secret_basic", "client_secret_post"]
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oidc/authorize",
        "token_endpoint": f"{base}/oidc/token",
        "userinfo_endpoint": f"{base}/oidc/userinfo",
        "jwks_uri": f"{base}/oidc/jwks",
        "end_session_endpoint": f"{base}/oidc/logout",
        "revocation_endpoint": f"{base}/oidc/revoke",
        "introspection_endpoint": f"{base}/oidc/introspect",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(clients.SUPPORTED_GRANTS),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(clients.ID_TOKEN_ALGORITHMS),
        "userinfo_signing_alg_values_supported": [],
        "scopes_supported": list(clients.SUPPORTED_SCOPES),
        "token_endpoint_auth_methods_supported": [*secret_methods, "none"],
        "revocation_endpoint_auth_methods_supported": [*secret_methods, "none"],
        "introspection_endpoint_auth_methods_supported": secret_methods,
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "sid",
            "amr",
            "preferred_username",
            "given_name",
            "family_name",
            "name",
            "locale",
            "email",
            "email_verified",
            FISCAL_NUMBER_CLAIM,
        ],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    }
