"""Test setup of the istanze service: test settings, and an app on a fresh database for each test."""

import os

os.environ["POLIS_ENV"] = "test"  # before any settings are read: development defaults stand in for secrets

from istanze import create_app
from istanze.extensions import db
from istanze.models import all_metadata
from polis.testing.apps import service_fixtures

# issuer (session): IAM's part, signing the access tokens; client: the app on an empty database, its broker
# on a closed port.
issuer, client = service_fixtures(create_app, db=db, metadata=all_metadata)
