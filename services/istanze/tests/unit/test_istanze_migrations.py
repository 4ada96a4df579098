"""The istanze migrations build exactly the schema its models describe, on SQLite and PostgreSQL."""

from pathlib import Path

from istanze.models import all_metadata
from polis.migrations import schema_differences, upgrade

ALEMBIC_INI = str(Path(__file__).parents[2] / "alembic.ini")


def test_the_migrated_schema_matches_the_models(database_url: str) -> None:
    upgrade(ALEMBIC_INI, database_url)

    assert schema_differences(database_url, all_metadata()) == []
