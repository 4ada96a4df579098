"""Area Riservata JSON API (`/api/iam/v1/me`): the signed-in account (IAM's SSO cookie) acts on itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, g, jsonify
from polis.web import api_doc, json_body, load

from iam.accounts.models import Account
from iam.audit.origin import current_origin
from iam.extensions import db
from iam.permissions import api_login_required
from iam.personal_area import service
from iam.personal_area.schemas import (
    EmailChangeRequestedSchema,
    EmailChangeSchema,
    EmailVerifySchema,
    PasswordChangeSchema,
    PersonalDataSchema,
    ProfileChangeSchema,
)
from iam.signin import sessions

F = TypeVar("F", bound=Callable[..., Any])
blueprint = Blueprint("personal_area", __name__, url_prefix="/api/iam/v1/me")
POLICY = "iam.personal_area_policy"
TAGS = ("area riservata",)


def register_personal_area(app: Flask) -> None:
    app.extensions[POLICY] = service.PersonalAreaPolicy.from_settings(app.config)
    app.register_blueprint(blueprint)


def policy() -> service.PersonalAreaPolicy:
    area_policy: service.PersonalAreaPolicy = current_app.extensions[POLICY]
    return area_policy


def personal_data(account: Account) -> dict[str, Any]:
    data: dict[str, Any] = PersonalDataSchema().dump(account)
    return data


@blueprint.get("")
@api_doc(
    "The signed-in account's personal data (D-ACC-7)", response=PersonalDataSchema, errors=(401,), tags=TAGS
)
@api_login_required
def me() -> dict[str, Any]:
    return personal_data(g.account)


@blueprint.patch("")
@api_doc(
    "Change the preferred language",
    request=ProfileChangeSchema,
    response=PersonalDataSchema,
    errors=(400, 401, 415),
    tags=TAGS,
)
@api_login_required
def change_profile() -> dict[str, Any]:
    data = load(ProfileChangeSchema(), json_body())
    account = service.change_language(
        db=db, account_id=g.account.id, language=data["language"], origin=current_origin()
    )
    return personal_data(account)


@blueprint.post("/email")
@api_doc(
    "Ask to change the personal email: a link goes to the new address, which counts only once verified",
    request=EmailChangeSchema,
    response=EmailChangeRequestedSchema,
    status=202,
    errors=(400, 401, 409, 415),
    tags=TAGS,
)
@api_login_required
def request_email_change() -> tuple[dict[str, Any], int]:
    data = load(EmailChangeSchema(), json_body())
    verification = service.request_email_change(
        db=db, policy=policy(), account_id=g.account.id, email=data["email"], origin=current_origin()
    )
    body = EmailChangeRequestedSchema().dump(
        {"status": "verification_sent", "email": verification.email, "expires_at": verification.expires_at}
    )
    return body, 202


@blueprint.post("/email/verify")
@api_doc(
    "Verify the new personal email with the token from the link (no sign-in needed: the link is the proof)",
    request=EmailVerifySchema,
    description="400 (invalid_token) also answers a token of the documented form that is not live.",
    response=PersonalDataSchema,
    errors=(400, 415),
    tags=TAGS,
)
def verify_email() -> dict[str, Any]:
    data = load(EmailVerifySchema(), json_body())
    return personal_data(service.verify_email_change(db=db, token=data["token"], origin=current_origin()))


@blueprint.post("/password")
@api_doc(
    "Change the password with the current one; every other session ends",
    request=PasswordChangeSchema,
    description=(
        "400 (validation_failed, field named) also answers a wrong current password or a new one "
        "the password policy refuses."
    ),
    errors=(400, 401, 409, 415),
    tags=TAGS,
)
@api_login_required
def change_password() -> Response:
    data = load(PasswordChangeSchema(), json_body())
    account = service.change_password(
        db=db, policy=policy(), account_id=g.account.id, origin=current_origin(), **data
    )
    response = jsonify(status="password_changed")
    if g.api_auth == "bearer":
        return response  # the token ended with every session: the client signs in again
    return keep_this_browser_signed_in(response, account)


def keep_this_browser_signed_in(response: Response, account: Account) -> Response:
    """The bump ended every session; this browser gets a new one at the new credentials_version."""
    with db.transaction() as session:
        token, _row = sessions.start_session(
            session, account=account, origin=current_origin(), sso_policy=sessions.policy()
        )
    return sessions.set_cookie(response, token)
