"""Schemas of the ops audit query (issue 3, item 10)."""

from __future__ import annotations

from marshmallow import fields, validate
from polis.web import ApiSchema, UtcDateTime

MAX_LIMIT = 500


class AuditQuerySchema(ApiSchema):
    account_id = fields.UUID(load_default=None)
    action = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    since = fields.AwareDateTime(load_default=None)
    until = fields.AwareDateTime(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_LIMIT))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000))


class AuditEntrySchema(ApiSchema):
    id = fields.UUID(required=True)
    occurred_at = UtcDateTime(required=True)
    action = fields.String(required=True)
    account_id = fields.UUID(allow_none=True)
    actor = fields.String(required=True)
    source_address = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    details = fields.Dict(required=True)


class AuditPageSchema(ApiSchema):
    entries = fields.List(fields.Nested(AuditEntrySchema), required=True)
    next_offset = fields.Integer(allow_none=True)
