"""Alembic environment of the notifier database: its own tables only, URL from its settings."""

from notifier.config import SERVICE
from notifier.models import all_metadata
from polis.config import Env
from polis.migrations import run_migrations

run_migrations(all_metadata(), lambda: Env().database_url(SERVICE))
