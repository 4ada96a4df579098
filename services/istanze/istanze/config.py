"""Istanze settings from the environment: the ones every service has, and token verification's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polis.service as service
from polis.config import Env
from polis.ui.pages import page_settings

SERVICE = "istanze"


def load_settings(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every istanze setting; `config` overrides them (tests)."""
    return service.load_settings(SERVICE, _own, config=config, verifies_tokens=True)


def _own(env: Env) -> dict[str, Any]:
    return {
        # The pages' session cookie (it holds the CSRF token), languages, the layout (polis.ui).
        **page_settings(env, SERVICE),
        # D-IST-3: the segnatura's codes of the administration and of its AOO (area organizzativa omogenea).
        "PROTOCOL_ADMINISTRATION_CODE": env.str("ISTANZE_PROTOCOL_ADMINISTRATION_CODE", "m_pi"),
        "PROTOCOL_AOO_CODE": env.str("ISTANZE_PROTOCOL_AOO_CODE", "AOODGPER"),
        "PROTOCOL_REGISTER": env.str("ISTANZE_PROTOCOL_REGISTER", "REGISTRO UFFICIALE"),
        # Seconds to wait for enablement's answer to the personal-code check before answering 503.
        "RPC_TIMEOUT": env.float("ISTANZE_RPC_TIMEOUT", 5.0),
        # The worker's sweep of receipts left pending (a process died between registering a submission and
        # filing its receipt): every INTERVAL seconds, the ones registered more than AFTER seconds ago.
        "RECEIPT_SWEEP_INTERVAL": env.float("ISTANZE_RECEIPT_SWEEP_INTERVAL", 10.0),
        "RECEIPT_SWEEP_AFTER": env.float("ISTANZE_RECEIPT_SWEEP_AFTER", 60.0),
    }
