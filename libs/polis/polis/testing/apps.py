"""A service's app for its own tests: a fresh database, the broker on a closed port, the test IAM's keys."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import MetaData

from polis.db import Database
from polis.testing.ports import free_port
from polis.testing.tokens import TestIssuer


@contextmanager
def service_app(
    create_app: Callable[..., Flask],
    *,
    db: Database,
    metadata: MetaData,
    database_url: str,
    issuer: TestIssuer,
    settings: Mapping[str, Any] | None = None,
    **options: Any,
) -> Iterator[Flask]:
    """create_app(config, **options) on database_url with its tables made; its pool disposed afterwards.

    Nothing listens on the broker's port: the app answers, and /readyz says the broker is unavailable."""
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "BROKER_URL": f"amqp://127.0.0.1:{free_port()}/%2F",
            "TOKEN_ISSUER": issuer.issuer,
            "TOKEN_JWKS": issuer.jwks(),
            **(settings or {}),
        },
        **options,
    )
    metadata.create_all(db.engine)
    try:
        yield app
    finally:
        db.dispose()


def service_fixtures(
    create_app: Callable[..., Flask], *, db: Database, metadata: Callable[[], MetaData]
) -> tuple[Any, Any]:
    """The `issuer` and `client` fixtures of a service's conftest.py, as `issuer, client = ...`:

    issuer (session): IAM's part in the tests, it signs the access tokens and its JWKS is handed to the app;
    client: a client of the service's app on an empty database, the broker on a closed port."""

    @pytest.fixture(scope="session")
    def issuer() -> TestIssuer:
        return TestIssuer()

    @pytest.fixture
    def client(database_url: str, issuer: TestIssuer) -> Iterator[FlaskClient]:
        with service_app(
            create_app, db=db, metadata=metadata(), database_url=database_url, issuer=issuer
        ) as app:
            yield app.test_client()

    return issuer, client
