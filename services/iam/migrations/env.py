"""Alembic environment of the iam database: its own tables only, URL from its settings."""

from iam.config import SERVICE
from iam.models import all_metadata
from polis.config import Env
from polis.migrations import run_migrations

run_migrations(all_metadata(), lambda: Env().database_url(SERVICE))
