"""Alembic environment of the enablement database: its own tables only, URL from its settings."""

from enablement.config import SERVICE
from enablement.models import all_metadata
from polis.config import Env
from polis.migrations import run_migrations

run_migrations(all_metadata(), lambda: Env().database_url(SERVICE))
