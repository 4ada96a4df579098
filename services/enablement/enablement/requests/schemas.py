"""Input schemas of the enablement API (unknown fields refused: polis.web.ApiSchema)."""

from __future__ import annotations

from marshmallow import fields, validate
from polis.web import ApiSchema

from enablement.offices.models import KINDS
from enablement.requests.models import DOCUMENT_TYPES

CODICE_FISCALE = validate.Regexp(r"^[A-Za-z0-9]{16}$", error="Enter the 16 characters of the codice fiscale.")
CONFIRMED = validate.Equal(True, error="Confirm that the data are correct.")


class StartRequestSchema(ApiSchema):
    codice_fiscale = fields.String(required=True, validate=CODICE_FISCALE)
    data_confirmed = fields.Boolean(required=True, validate=CONFIRMED)


class ReceiptSchema(ApiSchema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class FindSchema(ApiSchema):
    number = fields.String(validate=validate.Length(min=1, max=20))
    codice_fiscale = fields.String(validate=CODICE_FISCALE)


class ConfirmSchema(ApiSchema):
    office_id = fields.UUID(required=True)
    document_type = fields.String(required=True, validate=validate.OneOf(DOCUMENT_TYPES))
    document_number = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9]{4,20}$"))
    document_issuer = fields.String(required=True, validate=validate.Length(min=2, max=200))
    document_issued_on = fields.Date(required=True)
    document_expires_on = fields.Date(required=True)
    form_signed = fields.Boolean(
        required=True, validate=validate.Equal(True, error="The form must be signed.")
    )


class RejectSchema(ApiSchema):
    office_id = fields.UUID(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=3, max=500))


class OfficeSchema(ApiSchema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9]{4,16}$"))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    name = fields.String(required=True, validate=validate.Length(min=2, max=200))
    address = fields.String(required=True, validate=validate.Length(min=2, max=300))


class AssignmentSchema(ApiSchema):
    operator_id = fields.UUID(required=True)
    office_code = fields.String(required=True, validate=validate.Length(min=4, max=16))


class ChangeCodeSchema(ApiSchema):
    current_code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    new_code = fields.String(required=True, validate=validate.Length(min=1, max=64))


class RecoverCodeSchema(ApiSchema):
    codice_fiscale = fields.String(required=True, validate=CODICE_FISCALE)
    security_answer = fields.String(required=True, validate=validate.Length(min=1, max=200))


class RegenerateSchema(ApiSchema):
    confirm = fields.Boolean(required=True, validate=validate.Equal(True, error="Confirm the regeneration."))
