"""Test setup of the IAM service: test settings, and an app on a fresh database for each test."""

import os

os.environ["POLIS_ENV"] = "test"  # before any settings are read: development defaults stand in for secrets

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam import create_app
from iam.extensions import db
from iam.models import all_metadata
from polis.testing import free_port


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The IAM app on an empty database with the models' schema; the broker points at a closed port."""
    app = create_app(
        {"DATABASE_URL": database_url, "BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"}
    )
    all_metadata().create_all(db.engine)
    yield app
    db.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
