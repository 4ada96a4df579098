"""The IAM declarative base and the platform tables (outbox, processed events) in IAM's own database."""

from __future__ import annotations

from polis.db import Base as PolisBase
from polis.events.outbox import define_outbox
from polis.events.processed import define_processed_events
from polis.service import service_metadata
from sqlalchemy import MetaData


class Base(PolisBase):
    """Base of every IAM model: its metadata holds IAM's tables only."""

    __abstract__ = True
    metadata = service_metadata()


outbox = define_outbox(Base.metadata)
processed_events = define_processed_events(Base.metadata)


def all_metadata() -> MetaData:
    """IAM's metadata with every domain model imported, for migrations and schema checks."""
    from iam.accounts import models as _accounts  # noqa: F401 - registers the tables
    from iam.audit import models as _audit  # noqa: F401
    from iam.captcha import models as _captcha  # noqa: F401
    from iam.clients import models as _clients  # noqa: F401
    from iam.keys import models as _keys  # noqa: F401
    from iam.oidc import models as _oidc  # noqa: F401
    from iam.personal_area import models as _personal_area  # noqa: F401
    from iam.registration import models as _registration  # noqa: F401
    from iam.revocation import models as _revocation  # noqa: F401
    from iam.signin import models as _signin  # noqa: F401

    return Base.metadata
