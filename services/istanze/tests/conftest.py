"""Test setup of the istanze service: test settings, and an app on a fresh database for each test."""

import os

os.environ["POLIS_ENV"] = "test"  # before any settings are read: development defaults stand in for secrets

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from istanze import create_app
from istanze.extensions import db
from istanze.models import all_metadata
from polis.testing.apps import service_app
from polis.testing.tokens import TestIssuer


@pytest.fixture(scope="session")
def issuer() -> TestIssuer:
    """IAM's part in these tests: it signs the access tokens, and its JWKS is handed to the app."""
    return TestIssuer()


@pytest.fixture
def client(database_url: str, issuer: TestIssuer) -> Iterator[FlaskClient]:
    """A client of the istanze app on an empty database; the broker points at a closed port."""
    with service_app(
        create_app, db=db, metadata=all_metadata(), database_url=database_url, issuer=issuer
    ) as app:
        yield app.test_client()
