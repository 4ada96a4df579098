"""Recovery endpoints: the JSON API (below) and the pages (recovery/pages.py).

Both answer the same, with the same status, whether or not anything matched (D-ACC-5, D-ACC-6).
"""

from __future__ import annotations

from flask import Blueprint, Flask
from polis.web import api_doc, json_body, load

from iam.audit.origin import current_origin
from iam.captcha.adapters import adapter_from_settings
from iam.captcha.current import ADAPTER as CAPTCHA
from iam.captcha.current import current_adapter
from iam.extensions import db
from iam.recovery import service
from iam.recovery.policy import POLICY, policy
from iam.recovery.schemas import (
    RecoveryAcceptedSchema,
    TemporaryPasswordRequestSchema,
    UsernameReminderSchema,
)

blueprint = Blueprint("recovery", __name__, url_prefix="/api/iam/v1/recovery")
TAGS = ("recovery",)

USERNAME_ACCEPTED = {
    "status": "accepted",
    "message": (
        "If the codice fiscale belongs to an account, its username has been sent to its email addresses."
    ),
}
PASSWORD_ACCEPTED = {
    "status": "accepted",
    "message": (
        "If username and codice fiscale belong to an account, a temporary password has been sent to its "
        "email addresses. Your current password keeps working until you use the temporary one."
    ),
}


def register_recovery(app: Flask) -> None:
    app.extensions[POLICY] = service.RecoveryPolicy.from_settings(app.config)
    # The captcha area registers the adapter too; whichever runs first, there is exactly one.
    app.extensions.setdefault(CAPTCHA, adapter_from_settings(app.config))
    app.register_blueprint(blueprint)


@blueprint.post("/username")
@api_doc(
    "Username forgotten: send the username to every address of the account (D-ACC-5)",
    request=UsernameReminderSchema,
    description="400 also answers a codice fiscale of the documented form whose check character is wrong.",
    response=RecoveryAcceptedSchema,
    status=202,
    errors=(400, 413, 415),
    tags=TAGS,
)
def username_reminder() -> tuple[dict, int]:
    data = load(UsernameReminderSchema(), json_body())
    service.request_username_reminder(
        db=db,
        captcha=current_adapter(),
        captcha_response=data["captcha"],
        codice_fiscale=data["codice_fiscale"],
        origin=current_origin(),
    )
    return dict(USERNAME_ACCEPTED), 202


@blueprint.post("/password")
@api_doc(
    "Password dimenticata: send a temporary password to every address of the account (D-ACC-6)",
    request=TemporaryPasswordRequestSchema,
    description="400 also answers a codice fiscale of the documented form whose check character is wrong.",
    response=RecoveryAcceptedSchema,
    status=202,
    errors=(400, 409, 413, 415),
    tags=TAGS,
)
def temporary_password() -> tuple[dict, int]:
    data = load(TemporaryPasswordRequestSchema(), json_body())
    service.request_temporary_password(
        db=db,
        policy=policy(),
        captcha=current_adapter(),
        captcha_response=data["captcha"],
        username=data["username"],
        codice_fiscale=data["codice_fiscale"],
        origin=current_origin(),
    )
    return dict(PASSWORD_ACCEPTED), 202
