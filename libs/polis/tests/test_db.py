"""The Database wrapper: one transaction per unit of work, savepoints that work on SQLite and PostgreSQL."""

import pytest
from polis.db import Database, normalise_url
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

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
