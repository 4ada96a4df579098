"""Email rendering: Jinja2 templates per kind and language (subject, text, HTML), sealed fields opened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    Environment,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    select_autoescape,
)
from polis.events.sealing import Opener, SealError

SEALED_PREFIX = "sealed:v1:"
DEFAULT_LANGUAGE = "it"
# Deadlines are shown in Italian time, as the Ministry's notices do (D-IST-1).
DISPLAY_ZONE = ZoneInfo("Europe/Rome")


class RenderError(Exception):
    """The message cannot be built (no template, a sealed field that does not open): retrying won't help."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _format_datetime(value: str | datetime) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(DISPLAY_ZONE).strftime("%d/%m/%Y %H:%M")


class Renderer:
    """Renders `email/<kind>.<language>.{subject.txt,txt,html}`; Italian when a language has no template."""

    def __init__(self, opener: Opener) -> None:
        self._opener = opener
        self._env = Environment(
            loader=PackageLoader("notifier", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,  # a missing variable is a bug, not a blank in someone's email
            keep_trailing_newline=True,
        )
        self._env.filters["datetime"] = _format_datetime

    def open_sealed(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload with its sealed fields opened: in memory only, never stored or logged."""
        try:
            return {
                name: self._opener.open(value)
                if isinstance(value, str) and value.startswith(SEALED_PREFIX)
                else value
                for name, value in payload.items()
            }
        except SealError as error:
            # SealError names the key id or the defect, never the content.
            raise RenderError(f"a sealed field cannot be opened: {error}") from None

    def render(self, *, kind: str, language: str, payload: dict[str, Any]) -> RenderedEmail:
        context = self.open_sealed(payload)
        for candidate in dict.fromkeys((language, DEFAULT_LANGUAGE)):
            try:
                subject = self._env.get_template(f"email/{kind}.{candidate}.subject.txt").render(context)
                text = self._env.get_template(f"email/{kind}.{candidate}.txt").render(context)
                html = self._env.get_template(f"email/{kind}.{candidate}.html").render(context)
            except TemplateNotFound:
                continue
            except TemplateError as error:
                # Jinja's messages name variables, never their values: safe to keep as last_error.
                raise RenderError(f"template {kind}.{candidate}: {error}") from None
            # A header must be one line, whatever the template's layout.
            return RenderedEmail(" ".join(subject.split()), text, html)
        raise RenderError(f"no template for {kind} in {language} or {DEFAULT_LANGUAGE}")
