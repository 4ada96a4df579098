"""The captcha_solutions table: every accepted captcha once, until it expires, so none is used twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from iam.models import Base


class CaptchaSolution(Base):
    __tablename__ = "captcha_solutions"

    # sha256 of what identifies the solved challenge (ALTCHA: its signature; test: the response).
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
