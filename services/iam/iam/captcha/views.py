"""The captcha challenge endpoint the widget fetches (ALTCHA's challengeurl) and API clients call."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify
from polis.web import api_doc

from iam.captcha.adapters import adapter_from_settings
from iam.captcha.current import ADAPTER, current_adapter

blueprint = Blueprint("captcha", __name__, url_prefix="/api/iam/v1/captcha")


def register_captcha(app: Flask) -> None:
    app.extensions[ADAPTER] = adapter_from_settings(app.config)
    app.register_blueprint(blueprint)

    @app.context_processor
    def _captcha_context() -> dict[str, object]:
        return {"captcha_adapter": current_adapter()}


@blueprint.get("/challenge")
@api_doc(
    "A new captcha challenge for the configured widget (ALTCHA: solve it, send the payload)",
    tags=("captcha",),
)
def challenge() -> Response:
    response = jsonify(current_adapter().challenge())
    response.headers["Cache-Control"] = "no-store"
    return response
