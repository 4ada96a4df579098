"""Schemas of the deliveries ops endpoints: the payload is never exposed, sealed or not."""

from __future__ import annotations

from marshmallow import fields, validate
from polis.web import ApiSchema, UtcDateTime

from notifier.delivery.models import STATES


class DeliveryQuerySchema(ApiSchema):
    state = fields.String(validate=validate.OneOf(STATES))
    kind = fields.String(validate=validate.Length(max=64))
    account_id = fields.UUID()
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class DeliveryReadSchema(ApiSchema):
    id = fields.UUID()
    event_id = fields.UUID()
    kind = fields.String()
    account_id = fields.UUID(allow_none=True)
    recipient = fields.String()
    recipients = fields.List(fields.String())
    language = fields.String()
    state = fields.String()
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    occurred_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    next_attempt_at = UtcDateTime()
    last_attempt_at = UtcDateTime(allow_none=True)
    sent_at = UtcDateTime(allow_none=True)


class DeliveryListSchema(ApiSchema):
    items = fields.List(fields.Nested(DeliveryReadSchema))
