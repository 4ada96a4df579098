"""The institutional (MI) domain: @istruzione.it addresses come only from the MI import (D-ACC-2, D-ACC-7)."""

from __future__ import annotations

INSTITUTIONAL_DOMAIN = "istruzione.it"


def is_institutional(email: str) -> bool:
    """Whether the address is of the MI's domain or one of its subdomains."""
    domain = email.rsplit("@", 1)[-1].lower()
    return domain == INSTITUTIONAL_DOMAIN or domain.endswith("." + INSTITUTIONAL_DOMAIN)
