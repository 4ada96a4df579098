"""Input and output schemas of the registration API: unknown fields refused, every string bounded."""

from __future__ import annotations

from marshmallow import fields, validate
from polis.web import ApiSchema

from iam.accounts import names
from iam.registration import codice_fiscale as cf

LANGUAGES = ("it", "en")
NAME = names.validate  # letters, spaces, apostrophes and hyphens; at most 100 characters


class StartSchema(ApiSchema):
    # Spaces and lower case are accepted too ("rss mra 80a01 h501u"); the document states the written form.
    codice_fiscale = fields.String(
        required=True, validate=validate.Length(min=1, max=32), metadata={"pattern": cf.SYNTAX.pattern}
    )
    captcha = fields.String(required=True, validate=validate.Length(min=1, max=4096))
    language = fields.String(load_default="it", validate=validate.OneOf(LANGUAGES))


class RegistrationPersonalDataSchema(ApiSchema):
    last_name = fields.String(required=True, validate=NAME, metadata=names.SCHEMA)
    first_name = fields.String(required=True, validate=NAME, metadata=names.SCHEMA)
    birth_date = fields.Date(required=True)
    sex = fields.String(required=True, validate=validate.OneOf(("M", "F")))
    # An Italian comune ("Roma", "Roma (RM)") or a foreign state ("Francia"), or its Belfiore code.
    birth_place = fields.String(required=True, validate=validate.Length(min=2, max=100))


class ContactsSchema(ApiSchema):
    personal_email = fields.Email(required=True, validate=validate.Length(max=254))


class SecurityQuestionSchema(ApiSchema):
    question = fields.String(required=True, validate=validate.Length(min=5, max=200))
    # Case-sensitive (D-ENA-5): stored as an argon2 hash, never shown again.
    answer = fields.String(required=True, validate=validate.Length(min=3, max=100))


class SubmitSchema(ApiSchema):
    consent = fields.Boolean(required=True)


class ActivationSchema(ApiSchema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=300))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    password_confirmation = fields.String(load_default=None, validate=validate.Length(max=1024))


class LinkCheckSchema(ApiSchema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=300))


class RegistrationReadSchema(ApiSchema):
    """A registration in progress: what the summary shows (never the answer or its hash)."""

    next_step = fields.Integer(required=True)
    expires_at = fields.AwareDateTime(required=True)
    language = fields.String(required=True)
    codice_fiscale = fields.String(required=True)
    last_name = fields.String(allow_none=True)
    first_name = fields.String(allow_none=True)
    birth_date = fields.Date(allow_none=True)
    sex = fields.String(allow_none=True)
    birth_place = fields.String(attribute="birth_place_name", allow_none=True)
    birth_place_code = fields.String(allow_none=True)
    personal_email = fields.String(allow_none=True)
    security_question = fields.String(allow_none=True)


class StartedSchema(RegistrationReadSchema):
    # Returned once: send it back in the X-Registration-Token header (or keep the iam_registration cookie).
    token = fields.String(required=True)


class SubmittedSchema(ApiSchema):
    # The same answer whether or not the codice fiscale already had an account (D-ACC-3).
    status = fields.String(required=True)
    personal_email = fields.String(required=True)


class LinkReadSchema(ApiSchema):
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)
    username = fields.String(required=True)


class ActivatedSchema(ApiSchema):
    username = fields.String(required=True)
    state = fields.String(required=True)
