"""The registration JSON API (/api/iam/v1/registrations...): load, call the service, dump."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from polis.web import api_doc, json_body, load
from werkzeug.wrappers import Response as BaseResponse

from iam import captcha
from iam.audit.origin import current_origin
from iam.captcha.current import ADAPTER
from iam.extensions import db
from iam.registration import confirmation, service
from iam.registration.schemas import (
    ActivatedSchema,
    ActivationSchema,
    ContactsSchema,
    LinkCheckSchema,
    LinkReadSchema,
    RegistrationPersonalDataSchema,
    RegistrationReadSchema,
    SecurityQuestionSchema,
    StartedSchema,
    StartSchema,
    SubmitSchema,
    SubmittedSchema,
)

blueprint = Blueprint("registration_api", __name__, url_prefix="/api/iam/v1/registrations")
POLICY = "iam.registration_policy"
COOKIE = "iam_registration"
TOKEN_HEADER = "X-Registration-Token"  # noqa: S105 - a header name
TAGS = ("registration",)


def register_registration(app: Flask) -> None:
    if ADAPTER not in app.extensions:
        captcha.register(app)
    app.extensions[POLICY] = service.RegistrationPolicy.from_settings(
        app.config, captcha=app.extensions[ADAPTER]
    )
    app.register_blueprint(blueprint)


def policy() -> service.RegistrationPolicy:
    found: service.RegistrationPolicy = current_app.extensions[POLICY]
    return found


def cookie_name() -> str:
    """iam_registration, with the __Host- prefix when cookies are Secure (production)."""
    return ("__Host-" + COOKIE) if current_app.config["REGISTRATION_SECURE_COOKIE"] else COOKIE


def registration_token() -> str | None:
    """The registration's token: the API header, else the cookie the pages set."""
    return request.headers.get(TOKEN_HEADER) or request.cookies.get(cookie_name())


def set_registration_cookie(response: BaseResponse, token: str) -> None:
    response.set_cookie(
        cookie_name(),
        token,
        max_age=int(policy().ttl.total_seconds()),
        path="/",
        httponly=True,
        samesite="Lax",
        secure=current_app.config["REGISTRATION_SECURE_COOKIE"],
    )


def clear_registration_cookie(response: BaseResponse) -> None:
    response.delete_cookie(cookie_name(), path="/", secure=current_app.config["REGISTRATION_SECURE_COOKIE"])


@blueprint.post("")
@api_doc(
    "Step 1: start a registration with a codice fiscale and a solved captcha (D-ACC-3)",
    request=StartSchema,
    description=(
        "400 also answers a codice fiscale of the documented form whose check character, date or "
        "place code is wrong, and a captcha that is not solved."
    ),
    response=StartedSchema,
    status=201,
    errors=(400, 413, 415),
    tags=TAGS,
)
def start() -> tuple[Response, int]:
    data = load(StartSchema(), json_body())
    started = service.start(db=db, policy=policy(), origin=current_origin(), **data)
    response = jsonify({**_read(started.registration), "token": started.token})
    set_registration_cookie(response, started.token)
    return response, 201


def _read(registration: Any) -> dict[str, Any]:
    return RegistrationReadSchema().dump(registration)


@blueprint.get("/current")
@api_doc(
    "The registration in progress (token in X-Registration-Token or the iam_registration cookie)",
    response=RegistrationReadSchema,
    errors=(404,),
    tags=TAGS,
)
def current() -> dict[str, Any]:
    return _read(service.current(db=db, token=registration_token()))


@blueprint.put("/current/personal-data")
@api_doc(
    "Step 2: personal data, which must agree with the codice fiscale",
    request=RegistrationPersonalDataSchema,
    response=RegistrationReadSchema,
    errors=(400, 404, 409, 413, 415),
    tags=TAGS,
)
def personal_data() -> dict[str, Any]:
    data = load(RegistrationPersonalDataSchema(), json_body())
    registration = service.submit_personal_data(
        db=db, policy=policy(), token=registration_token(), origin=current_origin(), **data
    )
    return _read(registration)


@blueprint.put("/current/contacts")
@api_doc(
    "Step 3: the personal email (@istruzione.it refused)",
    request=ContactsSchema,
    response=RegistrationReadSchema,
    errors=(400, 404, 409, 413, 415),
    tags=TAGS,
)
def contacts() -> dict[str, Any]:
    data = load(ContactsSchema(), json_body())
    registration = service.submit_contacts(
        db=db, policy=policy(), token=registration_token(), origin=current_origin(), **data
    )
    return _read(registration)


@blueprint.put("/current/security-question")
@api_doc(
    "Step 4: the security question and its (case-sensitive) answer",
    request=SecurityQuestionSchema,
    response=RegistrationReadSchema,
    errors=(400, 404, 409, 413, 415),
    tags=TAGS,
)
def security_question() -> dict[str, Any]:
    data = load(SecurityQuestionSchema(), json_body())
    registration = service.submit_security_question(
        db=db, policy=policy(), token=registration_token(), origin=current_origin(), **data
    )
    return _read(registration)


@blueprint.post("/current/submit")
@api_doc(
    "Step 5: confirm the summary with consent; a confirmation link is emailed",
    request=SubmitSchema,
    response=SubmittedSchema,
    status=202,
    errors=(400, 404, 409, 413, 415),
    tags=TAGS,
)
def submit() -> tuple[Response, int]:
    data = load(SubmitSchema(), json_body())
    registration = service.submit(
        db=db, policy=policy(), token=registration_token(), origin=current_origin(), **data
    )
    response = jsonify(
        SubmittedSchema().dump({"status": "submitted", "personal_email": registration.personal_email})
    )
    clear_registration_cookie(response)
    return response, 202


@blueprint.post("/links/check")
@api_doc(
    "Whether a confirmation link still works, and the username it would give",
    request=LinkCheckSchema,
    description="400 (invalid_token) also answers a token of the documented form that is not live.",
    response=LinkReadSchema,
    errors=(400, 413, 415),
    tags=TAGS,
)
def check_link() -> dict[str, Any]:
    data = load(LinkCheckSchema(), json_body())
    return LinkReadSchema().dump(confirmation.check_link(db=db, policy=policy(), **data))


@blueprint.post("/activation")
@api_doc(
    "Use the confirmation link: choose the password; the account becomes active with its username",
    request=ActivationSchema,
    description="400 also answers a token that is not live and a password the password policy refuses.",
    response=ActivatedSchema,
    errors=(400, 413, 415),
    tags=TAGS,
)
def activate() -> dict[str, Any]:
    data = load(ActivationSchema(), json_body())
    account = confirmation.activate(db=db, policy=policy(), origin=current_origin(), **data)
    return ActivatedSchema().dump(account)
