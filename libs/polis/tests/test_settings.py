"""Settings: secrets are required in production, masked everywhere, defaulted only in dev/test."""

import pytest
from polis.config import ConfigError, Env, Secret


def test_a_missing_secret_stops_a_production_process_naming_the_variable():
    env = Env({"POLIS_ENV": "production"})
    with pytest.raises(ConfigError, match="IAM_SECRET_KEY"):
        env.secret("IAM_SECRET_KEY", dev_default="dev-only")


def test_production_is_assumed_when_nothing_says_otherwise():
    assert Env({}).is_production
    with pytest.raises(ConfigError):
        Env({}).secret("ANY_SECRET", dev_default="dev-only")


def test_dev_and_test_settings_may_use_the_development_default():
    assert Env({"POLIS_ENV": "test"}).secret("X", dev_default="dev-only").reveal() == "dev-only"


def test_a_secret_never_shows_its_value_in_repr_or_str():
    secret = Secret("hunter2-very-secret")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in repr({"key": secret})
    assert secret.reveal() == "hunter2-very-secret"


def test_an_unknown_environment_name_is_refused():
    with pytest.raises(ConfigError, match="POLIS_ENV"):
        Env({"POLIS_ENV": "staging-ish"})


def test_typed_readers_refuse_malformed_values():
    env = Env({"POLIS_ENV": "test", "N": "twelve", "B": "perhaps", "F": "x"})
    with pytest.raises(ConfigError, match="N"):
        env.int("N", 1)
    with pytest.raises(ConfigError, match="B"):
        env.bool("B", False)
    with pytest.raises(ConfigError, match="F"):
        env.float("F", 1.0)
    assert Env({"POLIS_ENV": "test", "L": "a, b,,c"}).list("L") == ["a", "b", "c"]


def test_the_database_url_is_per_service_and_sqlite_under_var_outside_production(tmp_path):
    env = Env({"POLIS_ENV": "dev", "POLIS_VAR_DIR": str(tmp_path)})
    assert env.database_url("iam") == f"sqlite:///{tmp_path}/iam.sqlite3"
    specific = Env({"POLIS_ENV": "dev", "IAM_DATABASE_URL": "postgresql://db/iam", "DATABASE_URL": "x"})
    assert specific.database_url("iam") == "postgresql://db/iam"
    with pytest.raises(ConfigError, match="IAM_DATABASE_URL"):
        Env({"POLIS_ENV": "production"}).database_url("iam")


def test_delays_are_growing_positive_seconds():
    env = Env({"POLIS_ENV": "test", "GOOD": "1, 5,30", "SHRINKING": "10,5", "WORDS": "soon,later"})
    assert env.delays("GOOD", "9") == (1.0, 5.0, 30.0)
    assert env.delays("UNSET", "2,4") == (2.0, 4.0)
    with pytest.raises(ConfigError, match="SHRINKING must be positive seconds in growing order"):
        env.delays("SHRINKING", "1")
    with pytest.raises(ConfigError, match="WORDS must be comma-separated seconds"):
        env.delays("WORDS", "1")
