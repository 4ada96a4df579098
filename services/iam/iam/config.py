"""IAM settings from the environment; the sealing key of the notifier is required in production."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polis.service as service
from polis.config import ConfigError, Env, Secret
from polis.events import sealing
from polis.ui.pages import page_settings

from iam.revocation.settings import revocation_settings

SERVICE = "iam"


def _own_settings(env: Env) -> dict[str, Any]:
    return {
        # Where links point, and whom secrets are sealed for: no defaults in production.
        "PUBLIC_BASE_URL": service.public_base_url(env, SERVICE),
        **sealing.sealer_settings(env),
        # Pages (iam.pages): session cookie for CSRF tokens, languages, the shared layout (polis.ui).
        **_page_settings(env),
        # Registration (D-ACC-3), password policy and captcha (registration area).
        **_registration_settings(env),
        # Login and the OpenID Connect provider (oidc area, D-ACC-4).
        **_oidc_settings(env),
        # Secrets and addresses of the clients that demo data registers (clients/demo.py; issue 5 item 1).
        **_demo_client_settings(env),
        # Back-channel logout deliveries by the worker (oidc/backchannel.py; issue 5 item 4).
        **_backchannel_settings(env),
        # Recovery, Area Riservata, ops (D-ACC-5 ... D-ACC-7): the ops token has a default only in dev/test.
        "OPS_TOKEN": env.secret("IAM_OPS_TOKEN", dev_default="polis-dev-ops-token"),
        "TEMPORARY_PASSWORD_TTL_MINUTES": env.float("IAM_TEMPORARY_PASSWORD_TTL_MINUTES", 30.0),
        "TEMPORARY_PASSWORD_MAX_OUTSTANDING": env.int("IAM_TEMPORARY_PASSWORD_MAX_OUTSTANDING", 3),
        "EMAIL_VERIFICATION_TTL_HOURS": env.float("IAM_EMAIL_VERIFICATION_TTL_HOURS", 24.0),
        # Revocation rounds of inactive accounts (revocation area, D-REV-*).
        **revocation_settings(env),
    }


def _oidc_settings(env: Env) -> dict[str, Any]:
    """SSO session, argon2 cost, brute force, issuer (oidc area)."""
    dev_issuer = None if env.is_production else "http://localhost:8080"
    return {
        # The issuer is the public site (the gateway forwards /oidc/ and /.well-known/ to IAM).
        "OIDC_ISSUER": env.str("IAM_OIDC_ISSUER", env.str("IAM_PUBLIC_BASE_URL", dev_issuer)).rstrip("/"),
        # The portal's client secret for the demo-data registration (make run, tests); production registers
        # its clients with `flask --app iam oidc-client ensure` and needs no such setting.
        "PORTAL_CLIENT_SECRET": (
            env.secret("IAM_PORTAL_CLIENT_SECRET", dev_default="dev-only-portal-client-secret")
            if not env.is_production or env.environ.get("IAM_PORTAL_CLIENT_SECRET")
            else None
        ),
        "SSO_IDLE_MINUTES": env.float("IAM_SSO_IDLE_MINUTES", 30.0),
        "SSO_ABSOLUTE_HOURS": env.float("IAM_SSO_ABSOLUTE_HOURS", 8.0),
        "SSO_SECURE_COOKIE": env.bool("IAM_SSO_SECURE_COOKIE", env.is_production),
        "ARGON2_MEMORY_KIB": env.int("IAM_ARGON2_MEMORY_KIB", 19 * 1024),  # OWASP; tests lower it
        "ARGON2_TIME_COST": env.int("IAM_ARGON2_TIME_COST", 2),
        "LOGIN_LOCK_THRESHOLD": env.int("IAM_LOGIN_LOCK_THRESHOLD", 10),
        "LOGIN_LOCK_STEP_SECONDS": env.float("IAM_LOGIN_LOCK_STEP_SECONDS", 60.0),
        "LOGIN_LOCK_MAX_SECONDS": env.float("IAM_LOGIN_LOCK_MAX_SECONDS", 900.0),
        "LOGIN_FAILURE_RESET_HOURS": env.float("IAM_LOGIN_FAILURE_RESET_HOURS", 12.0),
        "LOGIN_MAX_CONSECUTIVE_FAILURES": env.int("IAM_LOGIN_MAX_CONSECUTIVE_FAILURES", 100),
        # At the ceiling the owner unlocks with a link emailed to the account's addresses (issue 11 item 5):
        # how long it works, which is also the lock period of at most one such email.
        "LOGIN_UNLOCK_LINK_TTL_HOURS": env.float("IAM_LOGIN_UNLOCK_LINK_TTL_HOURS", 24.0),
        # Token signing keys (iam/keys/): the key-encryption key seals their private parts (base64url
        # 32 bytes; "new,old" while rotating it; the dev default is base64url of a public phrase). A
        # successor is published a lead before it signs; a retired key stays published for the retention.
        "KEY_ENCRYPTION_KEY": env.secret(
            "IAM_KEY_ENCRYPTION_KEY", dev_default="cG9saXMtZGV2LW9ubHktb2lkYy1rZXktZW5jLWtleSE"
        ),
        "OIDC_KEY_ROTATION_DAYS": env.float("IAM_OIDC_KEY_ROTATION_DAYS", 30.0),
        "OIDC_KEY_PUBLISH_LEAD_SECONDS": env.float(
            "IAM_OIDC_KEY_PUBLISH_LEAD_SECONDS", 3600.0 if env.is_production else 60.0
        ),
        "OIDC_KEY_RETENTION_SECONDS": env.float("IAM_OIDC_KEY_RETENTION_SECONDS", 24 * 3600.0),
    }


def _backchannel_settings(env: Env) -> dict[str, Any]:
    """How IAM's worker delivers back-channel logout tokens, and where it serves its metrics."""
    delays = env.delays("IAM_BACKCHANNEL_LOGOUT_RETRY_DELAYS", "10,30,60,300,900,3600")
    attempts = env.int("IAM_BACKCHANNEL_LOGOUT_MAX_ATTEMPTS", 8)
    if attempts < 1:
        raise ConfigError("setting IAM_BACKCHANNEL_LOGOUT_MAX_ATTEMPTS must be at least 1")
    return {
        "BACKCHANNEL_LOGOUT_MAX_ATTEMPTS": attempts,
        "BACKCHANNEL_LOGOUT_RETRY_DELAYS": delays,
        "BACKCHANNEL_LOGOUT_CONNECT_TIMEOUT": env.float("IAM_BACKCHANNEL_LOGOUT_CONNECT_TIMEOUT", 3.0),
        "BACKCHANNEL_LOGOUT_READ_TIMEOUT": env.float("IAM_BACKCHANNEL_LOGOUT_READ_TIMEOUT", 5.0),
        "BACKCHANNEL_LOGOUT_CONCURRENCY": max(1, env.int("IAM_BACKCHANNEL_LOGOUT_CONCURRENCY", 8)),
        "BACKCHANNEL_LOGOUT_RETENTION_HOURS": env.float("IAM_BACKCHANNEL_LOGOUT_RETENTION_HOURS", 168.0),
        "WORKER_METRICS_PORT": env.int("IAM_WORKER_METRICS_PORT", 0),  # 0: off
    }


# The partner services registered by demo data (make run): IAM_PARTNER_CLIENT_SECRET_<ID>, ID the client id
# in capitals with "_" for "-" (e.g. IAM_PARTNER_CLIENT_SECRET_GOVERNANCE_FORMAZIONE).
PARTNER_CLIENT_IDS = ("pagoinrete", "iscrizioni", "governance-formazione", "assistenti-lingua")


def _demo_client_settings(env: Env) -> dict[str, Any]:
    """Like IAM_PORTAL_CLIENT_SECRET: a development default in dev/test; in production a client whose secret
    is not set is not registered by demo data (production registers clients with the ops API or command)."""

    def client_secret(name: str, dev_default: str) -> Secret | None:
        if env.is_production and not env.environ.get(name):
            return None
        return env.secret(name, dev_default=dev_default)

    return {
        "PARTNER_CLIENT_SECRETS": {
            client_id: client_secret(
                "IAM_PARTNER_CLIENT_SECRET_" + client_id.upper().replace("-", "_"),
                f"dev-only-{client_id}-client-secret",
            )
            for client_id in PARTNER_CLIENT_IDS
        },
        # The service client of the ops and service-to-service examples (grant client_credentials).
        "OPS_CLIENT_SECRET": client_secret("IAM_OPS_CLIENT_SECRET", "dev-only-polis-ops-client-secret"),
        # Where the "Pago in rete (demo)" app of examples/ runs (its redirect URIs).
        "PAGOINRETE_DEMO_URL": env.str(
            "IAM_PAGOINRETE_DEMO_URL", "" if env.is_production else "http://localhost:8090"
        ).rstrip("/")
        or None,
    }


def _registration_settings(env: Env) -> dict[str, Any]:
    captcha = env.str("IAM_CAPTCHA", "altcha")
    if captcha not in ("altcha", "recaptcha", "test"):
        raise ConfigError(f"IAM_CAPTCHA must be altcha, recaptcha or test, not {captcha!r}")
    if captcha == "test" and env.name != "test":
        raise ConfigError("IAM_CAPTCHA=test is only allowed with POLIS_ENV=test")
    recaptcha = captcha == "recaptcha"
    return {
        "REGISTRATION_TTL_MINUTES": env.float("IAM_REGISTRATION_TTL_MINUTES", 60.0),
        "REGISTRATION_CONFIRMATION_TTL_HOURS": env.float("IAM_REGISTRATION_CONFIRMATION_TTL_HOURS", 48.0),
        "REGISTRATION_SIGNING_KEY": env.secret(
            "IAM_REGISTRATION_SIGNING_KEY", dev_default="dev-registration"
        ),
        "REGISTRATION_SECURE_COOKIE": env.bool("IAM_REGISTRATION_SECURE_COOKIE", env.is_production),
        "PASSWORD_MIN_LENGTH": env.int("IAM_PASSWORD_MIN_LENGTH", 15),
        "PASSWORD_MIN_SCORE": env.int("IAM_PASSWORD_MIN_SCORE", 3),
        "CAPTCHA": captcha,
        "CAPTCHA_HMAC_KEY": env.secret("IAM_CAPTCHA_HMAC_KEY", dev_default="dev-captcha"),
        "CAPTCHA_TTL_SECONDS": env.int("IAM_CAPTCHA_TTL_SECONDS", 600),
        "CAPTCHA_ALTCHA_MAX_NUMBER": env.int("IAM_CAPTCHA_ALTCHA_MAX_NUMBER", 100_000),
        "RECAPTCHA_SITE_KEY": env.str("IAM_RECAPTCHA_SITE_KEY") if recaptcha else "",
        "RECAPTCHA_SECRET": env.secret("IAM_RECAPTCHA_SECRET") if recaptcha else None,
    }


def _page_settings(env: Env) -> dict[str, Any]:
    secure = env.bool("IAM_SECURE_COOKIES", env.is_production)
    return {
        # IAM_SECRET_KEY, IAM_SECURE_COOKIES, languages, the layout (POLIS_HELPDESK_PHONE/_HOURS/_HOURS_EN,
        # POLIS_ACCESSIBILITY_URL/_PRIVACY_URL, POLIS_ASSET_VERSION), as every service's pages.
        **page_settings(env, SERVICE),
        # Only iam_* cookies cross the gateway: Flask's session (it holds the CSRF token) is iam_session,
        # __Host-iam_session with Secure cookies (production): Secure, Path=/, no Domain enforced by browsers.
        "SESSION_COOKIE_NAME": "__Host-iam_session" if secure else "iam_session",
        "SESSION_COOKIE_PATH": "/",
        "WTF_CSRF_TIME_LIMIT": env.int("IAM_CSRF_TIME_LIMIT", 4 * 3600),
    }


def load_settings(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every IAM setting; `config` overrides them (tests)."""
    return service.load_settings(SERVICE, _own_settings, config=config)
