"""Input and output of the procedures' ops API (marshmallow; unknown fields refused)."""

from __future__ import annotations

from marshmallow import fields, validate
from polis.web import ApiSchema

# A wall-clock time without an offset is no RFC 3339 `date-time` (issue 17: the document said it was).
LOCAL_DATE_TIME = {
    "format": "local-date-time",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$",
    "description": "wall-clock time in time_zone, without an offset",
}


class ProcedureCreateSchema(ApiSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    title_it = fields.String(required=True, validate=validate.Length(min=1, max=200))
    title_en = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description_it = fields.String(required=True, validate=validate.Length(max=5000))
    description_en = fields.String(required=True, validate=validate.Length(max=5000))
    staff_categories = fields.List(fields.String(), required=True)
    # Wall-clock times in time_zone, without an offset ("2027-03-28T14:00:00"): see procedures/window.py.
    opens_local = fields.NaiveDateTime(required=True, metadata=LOCAL_DATE_TIME)
    closes_local = fields.NaiveDateTime(required=True, metadata=LOCAL_DATE_TIME)
    time_zone = fields.String(load_default="Europe/Rome")
    form = fields.Dict(required=True)


class ProcedureReadSchema(ApiSchema):
    code = fields.String()
    version = fields.Integer()
    status = fields.String()
    title_it = fields.String()
    title_en = fields.String()
    description_it = fields.String()
    description_en = fields.String()
    staff_categories = fields.List(fields.String())
    opens_local = fields.NaiveDateTime(metadata=LOCAL_DATE_TIME)
    closes_local = fields.NaiveDateTime(metadata=LOCAL_DATE_TIME)
    time_zone = fields.String()
    opens_at = fields.Function(lambda p: p.window.opens_at().isoformat())
    closes_at = fields.Function(lambda p: p.window.closes_at().isoformat())
    form = fields.Dict()
