"""Input and output schemas of the Area Riservata API (D-ACC-7, D-ACC-8)."""

from __future__ import annotations

from marshmallow import fields, validate
from polis.web import ApiSchema, UtcDateTime

from iam.personal_area.service import LANGUAGES


class PersonalDataSchema(ApiSchema):
    """What the account holder sees about themselves; never a hash, never a counter."""

    id = fields.UUID(required=True)
    username = fields.String(allow_none=True)
    kind = fields.String(required=True)
    codice_fiscale = fields.String(required=True)
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)
    birth_date = fields.Date(allow_none=True)
    sex = fields.String(allow_none=True)
    birth_place_name = fields.String(allow_none=True)
    personal_email = fields.String(allow_none=True)
    institutional_email = fields.String(allow_none=True)
    reference_email = fields.String(allow_none=True)
    language = fields.String(required=True)
    last_access_at = UtcDateTime(allow_none=True)


class EmailChangeSchema(ApiSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))


class EmailChangeRequestedSchema(ApiSchema):
    status = fields.String(required=True)
    email = fields.String(required=True)
    expires_at = fields.AwareDateTime(required=True)


class EmailVerifySchema(ApiSchema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200))


class PasswordChangeSchema(ApiSchema):
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    new_password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class ProfileChangeSchema(ApiSchema):
    language = fields.String(required=True, validate=validate.OneOf(LANGUAGES))
