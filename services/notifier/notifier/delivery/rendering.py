"""Email rendering: Jinja2 templates per kind and language (subject, text, HTML), sealed fields opened."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
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
LANGUAGES = ("it", "en")
# Deadlines are shown in Italian time, as the Ministry's notices do (D-IST-1).
DISPLAY_ZONE = ZoneInfo("Europe/Rome")


class RenderError(Exception):
    """The message cannot be built (no template, a sealed field that does not open): retrying won't help."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = field(default=())


@dataclass(frozen=True)
class Branding:
    """What every email's header and footer show, and where its links point (settings)."""

    product: str = "Istanze OnLine"
    base_url: str = "http://localhost:8080"
    helpdesk_phone: str = "080 9267603"
    helpdesk_hours: Mapping[str, str] = field(
        default_factory=lambda: {
            "it": "dal lunedì al venerdì, 8:00-18:30",
            "en": "Monday to Friday, 8:00-18:30",
        }
    )
    helpdesk_email: str = ""

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Branding:
        return cls(
            product=settings["PRODUCT_NAME"],
            base_url=settings["PUBLIC_BASE_URL"],
            helpdesk_phone=settings["HELPDESK_PHONE"],
            helpdesk_hours={"it": settings["HELPDESK_HOURS_IT"], "en": settings["HELPDESK_HOURS_EN"]},
            helpdesk_email=settings["HELPDESK_EMAIL"],
        )


def _format_datetime(value: str | datetime) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(DISPLAY_ZONE).strftime("%d/%m/%Y %H:%M")


def _format_date(value: str | datetime) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(DISPLAY_ZONE).strftime("%d/%m/%Y")


class Renderer:
    """Renders `email/<kind>.<language>.{subject.txt,txt,html}`; Italian when a language has no template."""

    def __init__(self, opener: Opener, branding: Branding | None = None) -> None:
        self._opener = opener
        self.branding = branding or Branding()
        self._env = Environment(
            loader=PackageLoader("notifier", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,  # a missing variable is a bug, not a blank in someone's email
            keep_trailing_newline=True,
            auto_reload=False,  # templates ship with the code: no file check per email
        )
        self._env.filters["datetime"] = _format_datetime
        self._env.filters["date"] = _format_date
        base = self.branding.base_url
        self._env.globals.update(
            product=self.branding.product,
            base_url=base,
            helpdesk_phone=self.branding.helpdesk_phone,
            helpdesk_email=self.branding.helpdesk_email,
            links={
                "login": f"{base}/iam/accedi",
                "personal_area": f"{base}/iam/area-riservata",
                "change_password": f"{base}/iam/area-riservata/password",
                "forgot_password": f"{base}/iam/password-dimenticata",
                "username_reminder": f"{base}/iam/recupero-username",
                "registration": f"{base}/iam/registrazione",
                "istanze": f"{base}/istanze",
                "enablement": f"{base}/abilitazione",
            },
        )

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

    def render(
        self, *, kind: str, language: str, payload: dict[str, Any], attachments: tuple[str, ...] = ()
    ) -> RenderedEmail:
        context = self.open_sealed(payload)
        files = tuple(_attachment(payload, name) for name in attachments)
        for candidate in dict.fromkeys((language, DEFAULT_LANGUAGE)):
            context["helpdesk_hours"] = self.branding.helpdesk_hours.get(candidate, "")
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
            return RenderedEmail(" ".join(subject.split()), text, html, files)
        raise RenderError(f"no template for {kind} in {language} or {DEFAULT_LANGUAGE}")


def _attachment(payload: dict[str, Any], name: str) -> Attachment:
    try:
        spec = payload[name]
        return Attachment(spec["filename"], spec["content_type"], base64.b64decode(spec["content_base64"]))
    except (KeyError, TypeError, ValueError):
        raise RenderError(f"attachment {name} is missing or broken") from None
