"""Test setup of the enablement service: test settings, and an app on a fresh database for each test."""

import os

os.environ["POLIS_ENV"] = "test"  # before any settings are read: development defaults stand in for secrets

from collections.abc import Iterator

import pytest
from enablement import create_app
from enablement.extensions import db
from enablement.models import all_metadata
from enablement_support import FakeIam
from flask import Flask
from polis.testing.apps import service_app, service_fixtures
from polis.testing.tokens import TestIssuer

# issuer (session): IAM's part, signing the access tokens; client: the app on an empty database, its broker
# on a closed port.
issuer, client = service_fixtures(create_app, db=db, metadata=all_metadata)


@pytest.fixture
def app(database_url: str, issuer: TestIssuer) -> Iterator[Flask]:
    """The enablement app with cheap argon2, a short lock and no delays, IAM's answers faked."""
    settings = {
        "ARGON2_MEMORY_KIB": 1024,
        "ARGON2_TIME_COST": 1,
        "CODE_LOCK_THRESHOLD": 4,
        "CODE_DELAY_AFTER": 2,
        "CODE_DELAY_STEP_SECONDS": 0.0,
    }
    with service_app(
        create_app,
        db=db,
        metadata=all_metadata(),
        database_url=database_url,
        issuer=issuer,
        settings=settings,
        iam=FakeIam(),
    ) as app:
        yield app
