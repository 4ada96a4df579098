"""Schemas of the MI import and the security officer's API (D-ACC-2)."""

from __future__ import annotations

from marshmallow import fields, validate
from polis.web import ApiSchema

MAX_CSV_CHARS = 5 * 1024 * 1024


class ImportRequestSchema(ApiSchema):
    csv = fields.String(required=True, validate=validate.Length(min=1, max=MAX_CSV_CHARS))


class ImportResultSchema(ApiSchema):
    created = fields.List(fields.String(), required=True)
    updated = fields.List(fields.String(), required=True)
    unchanged = fields.Integer(required=True)


class MiSearchSchema(ApiSchema):
    q = fields.String(required=True, validate=validate.Length(min=3, max=64))


class MiAccountSchema(ApiSchema):
    id = fields.UUID(required=True)
    username = fields.String(allow_none=True)
    codice_fiscale = fields.String(required=True)
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)
    institutional_email = fields.String(allow_none=True)
    state = fields.String(required=True)


class MiSearchResultSchema(ApiSchema):
    accounts = fields.List(fields.Nested(MiAccountSchema), required=True)


class ResetDoneSchema(ApiSchema):
    status = fields.String(required=True)
    expires_at = fields.AwareDateTime(required=True)


class ResetRequestSchema(ApiSchema):
    """Empty: the reset takes no input, but a JSON body keeps cross-site form posts out."""
