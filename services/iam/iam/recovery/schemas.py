"""Input and output schemas of the recovery endpoints (D-ACC-5, D-ACC-6)."""

from __future__ import annotations

from marshmallow import fields, validate
from polis.web import ApiSchema

CODICE_FISCALE = validate.Regexp(r"^[A-Za-z0-9]{16}$", error="Enter the 16 characters of the codice fiscale.")


class UsernameReminderSchema(ApiSchema):
    codice_fiscale = fields.String(required=True, validate=CODICE_FISCALE)
    captcha = fields.String(required=True, validate=validate.Length(min=1, max=4096))


class TemporaryPasswordRequestSchema(ApiSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    codice_fiscale = fields.String(required=True, validate=CODICE_FISCALE)
    captcha = fields.String(required=True, validate=validate.Length(min=1, max=4096))


class RecoveryAcceptedSchema(ApiSchema):
    status = fields.String(required=True)
    message = fields.String(required=True)
