"""Flask extensions, created unbound here and attached to the app in create_app."""

from __future__ import annotations

from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from gateway.ratelimit import PageRateLimiter

babel = Babel()
csrf = CSRFProtect()
# The pages' per-address limits (gateway/ratelimit.py): RATELIMIT_DEFAULT per endpoint, parsed once per app
# from its config. The client address comes from ProxyFix-corrected remote_addr, never from a raw
# X-Forwarded-For.
limiter = PageRateLimiter()

# Login, registration and recovery forms and calls are not limited here but by gateway/stepup.py: a soft
# per-address threshold answered with a proof-of-work step-up, and a far higher hard limit.
