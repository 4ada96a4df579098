"""Input and output schemas of the recovery endpoints (D-ACC-5, D-ACC-6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import ValidationError, fields, validate
from polis.web import ApiSchema

from iam.registration import codice_fiscale as cf

CF_FORM = validate.Regexp(r"^[A-Za-z0-9]{16}$", error="Enter the 16 characters of the codice fiscale.")


def _check_character(value: str) -> None:
    """The check character and the date and place codes, as registration checks them (issue 13 item 5)."""
    if cf.problem(value.upper()):
        raise ValidationError(
            "This codice fiscale is not valid: check its characters, the last one above all."
        )


CODICE_FISCALE: list[Callable[[Any], Any]] = [CF_FORM, _check_character]


# The document states the form (what SYNTAX accepts, upper case); the check character no pattern can state.
CF_DOCUMENTED = {"pattern": cf.SYNTAX.pattern}


class UsernameReminderSchema(ApiSchema):
    codice_fiscale = fields.String(required=True, validate=CODICE_FISCALE, metadata=CF_DOCUMENTED)
    captcha = fields.String(required=True, validate=validate.Length(min=1, max=4096))


class TemporaryPasswordRequestSchema(ApiSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    codice_fiscale = fields.String(required=True, validate=CODICE_FISCALE, metadata=CF_DOCUMENTED)
    captcha = fields.String(required=True, validate=validate.Length(min=1, max=4096))


class RecoveryAcceptedSchema(ApiSchema):
    status = fields.String(required=True)
    message = fields.String(required=True)
