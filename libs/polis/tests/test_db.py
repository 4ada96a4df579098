"""The Database wrapper: one transaction per unit of work, savepoints that work on SQLite and PostgreSQL."""

import polis.db
import pytest
from polis.db import Database, normalise_url
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, func, insert, select, text
from sqlalchemy.pool import NullPool

metadata = MetaData()
things = Table("things", metadata, Column("id", Integer, primary_key=True), Column("name", String(50)))


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    metadata.create_all(database.engine)
    yield database
    database.dispose()


def count(db):
    with db.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(things)).scalar_one()


def test_a_transaction_commits_when_the_block_ends(db):
    with db.transaction() as session:
        session.execute(insert(things).values(name="kept"))
    assert count(db) == 1


def test_a_transaction_rolls_back_everything_when_the_block_raises(db):
    with pytest.raises(RuntimeError), db.transaction() as session:
        session.execute(insert(things).values(name="lost"))
        raise RuntimeError("half-way")
    assert count(db) == 0


def test_a_savepoint_undoes_only_its_own_work(db):
    with db.transaction() as session:
        session.execute(insert(things).values(name="first"))
        savepoint = session.begin_nested()
        session.execute(insert(things).values(name="undone"))
        savepoint.rollback()
        session.execute(insert(things).values(name="second"))
    with db.engine.connect() as connection:
        names = sorted(connection.execute(select(things.c.name)).scalars())
    assert names == ["first", "second"]


def test_ping_answers_when_the_database_is_reachable(db):
    db.ping()


def test_an_unreachable_database_fails_the_ping():
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error type is what readiness sees
        Database("postgresql://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1}).ping()


def test_short_postgres_urls_use_psycopg_3():
    assert normalise_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def backend_pid(database):
    with database.transaction() as session:
        return session.execute(select(func.pg_backend_pid())).scalar_one()


def terminate(database_url, pid):
    """Close one server connection from outside, as a restart or an idle-killing proxy would."""
    killer = create_engine(normalise_url(database_url), poolclass=NullPool)
    with killer.connect() as connection:
        connection.execute(select(func.pg_terminate_backend(pid)))
    killer.dispose()


@pytest.fixture
def counted_pings(monkeypatch):
    pings = []
    real = polis.db.ping_connection

    def counting(dbapi_connection):
        pings.append(dbapi_connection)
        real(dbapi_connection)

    monkeypatch.setattr(polis.db, "ping_connection", counting)
    return pings


def test_a_connection_back_from_work_a_moment_ago_is_not_pinged_again(database_url, counted_pings):
    """Issue 18: no round trip before every transaction (pool_pre_ping pinged at each checkout)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server connection to lose")
    database = Database(database_url, pool_size=1, max_overflow=0, idle_ping_seconds=60)
    for _ in range(5):
        with database.transaction() as session:
            session.execute(text("SELECT 1"))

    assert counted_pings == []
    database.dispose()


def test_a_connection_closed_by_the_server_while_idle_is_replaced_before_anyone_uses_it(
    database_url, counted_pings
):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server connection to lose")
    database = Database(database_url, pool_size=1, max_overflow=0, idle_ping_seconds=0)
    first = backend_pid(database)
    terminate(database_url, first)

    second = backend_pid(database)  # the pooled one was dead: pinged, discarded, replaced

    assert second != first
    assert len(counted_pings) == 1
    database.dispose()


def test_a_pinged_connection_is_handed_over_outside_a_transaction(database_url, counted_pings):
    """Issue 18: the idle ping's SELECT began a transaction it never ended, so the next user could not set
    AUTOCOMMIT on the connection (IAM's login read answered 500 after its pool sat idle)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite connections are not pinged")
    database = Database(database_url, pool_size=1, max_overflow=0, idle_ping_seconds=0)
    backend_pid(database)

    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        assert connection.execute(text("SELECT 1")).scalar_one() == 1

    assert len(counted_pings) == 1
    database.dispose()
