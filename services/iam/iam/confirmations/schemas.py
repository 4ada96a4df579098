"""Input and output schemas of the email confirmation endpoints."""

from __future__ import annotations

from marshmallow import fields, validate
from polis.web import ApiSchema

LANGUAGES = ("it", "en")


class ConfirmationRequestSchema(ApiSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    language = fields.String(load_default="it", validate=validate.OneOf(LANGUAGES))


class ConfirmationReadSchema(ApiSchema):
    id = fields.UUID(required=True)
    status = fields.String(required=True)
    expires_at = fields.AwareDateTime(required=True)


class ConfirmSchema(ApiSchema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200))


class ConfirmedSchema(ApiSchema):
    id = fields.UUID(required=True)
    status = fields.String(required=True)
