"""Schemas of the ops API of revocation rounds: input and output kept apart, unknown fields refused."""

from __future__ import annotations

from marshmallow import fields, validate
from polis.web import ApiSchema, JsonInteger, UtcDateTime

MAX_SAMPLE = 200


class RoundCreateSchema(ApiSchema):
    cutoff = fields.Date(required=True)  # YYYY-MM-DD: unused since this day (Italian time)
    # YYYY-MM-DDTHH:MM[:SS] in Italian time (Europe/Rome), T24:00 allowed: parsed by the service.
    deadline = fields.String(
        required=True,
        validate=validate.Length(min=1, max=25),
        metadata={  # what service.parse_local_deadline reads (the document states it: issue 17)
            "pattern": r"^\s*\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?\s*$",
            "description": "Italian time, no offset: YYYY-MM-DDTHH:MM (T24:00 ends that day)",
        },
    )
    reminder_days = fields.List(JsonInteger(), load_default=None, validate=validate.Length(max=10))


class PreviewRequestSchema(ApiSchema):
    sample_size = fields.Integer(load_default=None, validate=validate.Range(min=0, max=MAX_SAMPLE))


class NoticeReadSchema(ApiSchema):
    name = fields.String(required=True)
    due_at = UtcDateTime(required=True)
    state = fields.String(required=True)
    sent = fields.Integer(required=True)
    finished_at = UtcDateTime(allow_none=True)


class RoundCountsSchema(ApiSchema):
    affected_at_preview = fields.Integer(allow_none=True)
    affected_at_announce = fields.Integer(allow_none=True)
    announced = fields.Integer(required=True)
    kept = fields.Integer(required=True)
    revoked = fields.Integer(required=True)


class RoundReadSchema(ApiSchema):
    id = fields.UUID(required=True)
    state = fields.String(required=True)
    cutoff = fields.Date(required=True)
    deadline = UtcDateTime(required=True)
    deadline_local = fields.String(required=True)  # Europe/Rome wall-clock time
    reminder_days = fields.List(fields.Integer(), required=True)
    counts = fields.Method("_counts")
    progress = fields.Integer(required=True)
    previewed_at = UtcDateTime(allow_none=True)
    created_by = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    announced_by = fields.String(allow_none=True)
    announced_at = UtcDateTime(allow_none=True)
    cancelled_by = fields.String(allow_none=True)
    cancelled_at = UtcDateTime(allow_none=True)
    execution_started_at = UtcDateTime(allow_none=True)
    done_at = UtcDateTime(allow_none=True)
    notices = fields.List(fields.Nested(NoticeReadSchema), required=True)

    def _counts(self, view: object) -> dict[str, object]:
        return RoundCountsSchema().dump(
            {
                "affected_at_preview": view.affected_at_preview,  # type: ignore[attr-defined]
                "affected_at_announce": view.affected_at_announce,  # type: ignore[attr-defined]
                "announced": view.announced,  # type: ignore[attr-defined]
                "kept": view.kept,  # type: ignore[attr-defined]
                "revoked": view.revoked,  # type: ignore[attr-defined]
            }
        )


class RoundListSchema(ApiSchema):
    rounds = fields.List(fields.Nested(RoundReadSchema), required=True)


class SampleAccountSchema(ApiSchema):
    account_id = fields.UUID(required=True)
    username = fields.String(allow_none=True)
    language = fields.String(required=True)
    last_access_at = UtcDateTime(allow_none=True)
    activated_at = UtcDateTime(allow_none=True)


class PreviewReadSchema(ApiSchema):
    round = fields.Nested(RoundReadSchema, required=True)
    affected = fields.Integer(required=True)
    sample = fields.List(fields.Nested(SampleAccountSchema), required=True)


class RoundAuditQuerySchema(ApiSchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))
