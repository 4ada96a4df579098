"""Permissions: what a verified principal may do in one service, from its token's scopes and roles.

The mechanism lives here; each service declares its own map (`<service>/permissions.py`), so a service's
rules stay with the service. A permission needs the API scope the client was granted for that service
(the user's consent, or the client's allowance for client credentials) and one of the roles IAM put in the
token: "user" for an end user, plus the account's roles ("operator", "security_officer"), or the client's
service roles ("ops") for a client-credentials token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from polis.auth.errors import InsufficientScope
from polis.auth.tokens import Principal

F = TypeVar("F", bound=Callable[..., Any])

USER = "user"
OPERATOR = "operator"
SECURITY_OFFICER = "security_officer"
OPS = "ops"


@dataclass(frozen=True)
class Permission:
    """Allowed when the token has `scope` (None: any) and at least one of `roles` (empty: any)."""

    scope: str | None
    roles: frozenset[str]

    def allows(self, principal: Principal) -> bool:
        if self.scope is not None and self.scope not in principal.scopes:
            return False
        return not self.roles or bool(self.roles & principal.roles)

    def check(self, principal: Principal) -> None:
        """InsufficientScope (403) naming the missing scope, or the roles, when the principal lacks it."""
        if self.scope is not None and self.scope not in principal.scopes:
            raise InsufficientScope(f"The access token lacks the scope {self.scope}.", scope=self.scope)
        if self.roles and not self.roles & principal.roles:
            wanted = " or ".join(sorted(self.roles))
            raise InsufficientScope(f"This operation needs the role {wanted}.", scope=self.scope)


def permission(scope: str | None, *roles: str) -> Permission:
    return Permission(scope=scope, roles=frozenset(roles))


class Permissions:
    """One service's permission map, and the decorator its views use."""

    def __init__(self, service: str, grants: Mapping[str, Permission]) -> None:
        unknown = [name for name in grants if not name.startswith(f"{service}.")]
        if unknown:
            raise ValueError(
                f"permissions of {service} must be named {service}.<action>: {', '.join(unknown)}"
            )
        self.service = service
        self.scope = service  # the API scope named after the service (IAM's API_SCOPES)
        self._grants = dict(grants)

    def __getitem__(self, name: str) -> Permission:
        return self._grants[name]

    def __contains__(self, name: object) -> bool:
        return name in self._grants

    def names(self) -> list[str]:
        return sorted(self._grants)

    def held_by(self, principal: Principal) -> list[str]:
        return [name for name in self.names() if self._grants[name].allows(principal)]

    def require(self, name: str) -> Callable[[F], F]:
        """Decorate a view: a valid bearer token holding permission `name`, else 401/403 (RFC 6750).

        An unknown name fails here, when the view module is imported, not at the first request."""
        if name not in self._grants:
            raise KeyError(f"{name} is not a permission of {self.service}")
        from polis.auth.web import guard  # the Flask side; this module stays importable without it

        return guard(self._grants[name])
