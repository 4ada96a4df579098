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

# Login, registration and recovery forms and calls are not limited here but by gateway/stepup.py: a soft
# per-address threshold answered with a proof-of-work step-up, and a far higher hard limit.
