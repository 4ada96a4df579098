"""IAM's own small pages: the entry page of the identity service."""

from __future__ import annotations

from flask import Blueprint, render_template

blueprint = Blueprint("iam_pages", __name__, url_prefix="/iam")


@blueprint.get("/")
def index() -> str:
    return render_template("iam/index.html")
