"""Flask extensions, created unbound here and attached to the app in create_app."""

from __future__ import annotations

from flask import current_app
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

babel = Babel()
csrf = CSRFProtect()
# The client address comes from ProxyFix-corrected remote_addr, never from a raw X-Forwarded-For.
# Defaults are read from each app's config at request time (a string set at init_app would stick to the
# first app created).
limiter = Limiter(
    key_func=get_remote_address, default_limits=[lambda: current_app.config["RATELIMIT_DEFAULT"]]
)

# The stricter limit for login, registration and recovery forms when they arrive with the IAM service.
limit_authentication = limiter.shared_limit(
    lambda: current_app.config["RATELIMIT_AUTHENTICATION"], scope="authentication"
)
