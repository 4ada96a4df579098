"""The step-up on the web: GET /sicurezza/verifica (a challenge when this address needs one) and the answers
to a credential form that has no valid proof, or comes from an address beyond the hard limit.

The counting itself is in gateway/stepup.py, without Flask, shared with the /api/ calls
(gateway/api/proxy.py).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from flask import (
    Blueprint,
    Flask,
    Response,
    after_this_request,
    current_app,
    jsonify,
    render_template,
    request,
)
from flask_babel import format_time
from polis.errors import error_body

from gateway.stepup import (
    BLOCKED_MESSAGE,
    CHALLENGE_PATH,
    COOKIE,
    HEADER,
    STEP_UP_MESSAGE,
    CredentialGuard,
    Decision,
    form_home,
)

EXTENSION = "gateway.step_up"

bp = Blueprint("step_up", __name__)


def credential_guard(app: Flask) -> CredentialGuard:
    """The app's one guard (created on first use), shared by its pages and its /api/ proxy."""
    guard = app.extensions.get(EXTENSION)
    if guard is None:
        guard = app.extensions[EXTENSION] = CredentialGuard(app.config)
    return guard


def register_step_up(app: Flask) -> None:
    credential_guard(app)
    app.register_blueprint(bp)


@bp.get(CHALLENGE_PATH)
def challenge() -> Response:
    """{"required": bool, "challenge": {...}} for the next credential form (`?path=`) from this address;
    `?always=1` gives a challenge either way (API clients solving ahead)."""
    from gateway.api.pages import CREDENTIAL_FORMS  # what the bands apply to (pages imports this module)
    from gateway.api.proxy import CREDENTIAL_CALLS

    guard = credential_guard(current_app)
    address = request.remote_addr or "unknown"
    path = request.args.get("path", "")
    counted = not path or path.startswith(CREDENTIAL_FORMS) or path.rstrip("/") in CREDENTIAL_CALLS
    body: dict[str, object] = {"required": counted and guard.required(address)}
    if body["required"] or request.args.get("always") == "1":
        body["challenge"] = guard.challenge(address)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


def check_credential_form() -> Response | None:
    """Count this credential form from its address: None when it may go on, else the answer to give."""
    proof = request.cookies.get(COOKIE) or request.headers.get(HEADER)
    if request.cookies.get(COOKIE) is not None:

        @after_this_request
        def _spent(response: Response) -> Response:  # single use: the browser need not keep it
            response.delete_cookie(COOKIE, path="/")
            return response

    decision = credential_guard(current_app).attempt(request.remote_addr or "unknown", proof)
    if decision.band == "pass":
        return None
    return refused(decision)


def refused(decision: Decision) -> Response:
    """The step-up or block answer: the JSON error shape for JSON callers, else a page with the way back."""
    headers = {"Cache-Control": "no-store"}
    if decision.band == "blocked":
        headers["Retry-After"] = str(decision.retry_after)
    if _wants_json():
        code, message = (
            ("too_many_requests", BLOCKED_MESSAGE)
            if decision.band == "blocked"
            else ("proof_of_work_required", STEP_UP_MESSAGE)
        )
        return Response(
            jsonify(error_body(code, message)).get_data(), 429, headers, mimetype="application/json"
        )
    wait = timedelta(seconds=decision.retry_after)
    page = render_template(
        "stepup/refused.html",
        blocked=decision.band == "blocked",
        minutes=math.ceil(decision.retry_after / 60),
        until=format_time(datetime.now(UTC) + wait, "short") if decision.retry_after else "",
        back=form_home(request.path, request.referrer, request.host),
    )
    return Response(page, 429, headers, mimetype="text/html")


def _wants_json() -> bool:
    accepted = request.accept_mimetypes
    return request.is_json or accepted.quality("application/json") > accepted.quality("text/html")
