"""Configuration: production refuses to start unsafe, and names the variable."""
import pytest
from sqlalchemy import event

from app import create_app
from app.configs import ConfigurationError, DevConfig, ProdConfig, TestConfig, config_for, unbounded_engine_options
from app.extensions import db

REAL_KEY = "k" * 43
MYSQL = "mysql+mysqlconnector://u:p@127.0.0.1/db"


@pytest.mark.parametrize(("environ", "variable"), [
    ({"DATABASE_URL": MYSQL}, "SECRET_KEY"),
    ({"SECRET_KEY": "change-me", "DATABASE_URL": MYSQL}, "SECRET_KEY"),
    ({"SECRET_KEY": "short", "DATABASE_URL": MYSQL}, "SECRET_KEY"),
    ({"SECRET_KEY": REAL_KEY}, "DATABASE_URL"),
    ({"SECRET_KEY": REAL_KEY, "DATABASE_URL": MYSQL, "ACCESS_TOKEN_TTL": "soon"}, "ACCESS_TOKEN_TTL"),
    ({"SECRET_KEY": REAL_KEY, "DATABASE_URL": MYSQL, "ARGON2_MEMORY_COST": "1024"}, "ARGON2_MEMORY_COST"),
])
def test_production_refuses_unsafe_settings(environ, variable):
    with pytest.raises(ConfigurationError, match=variable):
        ProdConfig(environ)


def test_production_accepts_real_settings():
    config = ProdConfig({"SECRET_KEY": REAL_KEY, "DATABASE_URL": MYSQL, "ACCESS_TOKEN_TTL": "60"})
    assert config.ACCESS_TOKEN_TTL == 60
    assert config.SQLALCHEMY_ENGINE_OPTIONS["pool_pre_ping"] is True
    assert config.SQLALCHEMY_ENGINE_OPTIONS["connect_args"]["connection_timeout"] == 3


def test_database_timeouts_default_to_a_bound_below_five_seconds():
    connect_args = ProdConfig({"SECRET_KEY": REAL_KEY, "DATABASE_URL": MYSQL}).SQLALCHEMY_ENGINE_OPTIONS["connect_args"]
    assert connect_args["read_timeout"] == connect_args["write_timeout"] == 3
    assert connect_args["init_command"] == "SET SESSION innodb_lock_wait_timeout = 2, lock_wait_timeout = 2"
    assert max(connect_args["read_timeout"], connect_args["connection_timeout"]) <= 5


@pytest.mark.parametrize(("value", "bounds"), [
    ("7", {"read_timeout": 7, "write_timeout": 7,
           "init_command": "SET SESSION innodb_lock_wait_timeout = 6, lock_wait_timeout = 6"}),
    ("1", {"read_timeout": 1, "write_timeout": 1,
           "init_command": "SET SESSION innodb_lock_wait_timeout = 1, lock_wait_timeout = 1"}),
    ("0", {}),  # no bound: for one-off jobs, never the web processes
])
def test_the_statement_timeout_sets_the_driver_timeouts_and_the_lock_waits(value, bounds):
    config = ProdConfig({"SECRET_KEY": REAL_KEY, "DATABASE_URL": MYSQL, "DATABASE_STATEMENT_TIMEOUT": value,
                         "DATABASE_CONNECT_TIMEOUT": "2"})
    assert config.SQLALCHEMY_ENGINE_OPTIONS["connect_args"] == {"connection_timeout": 2, **bounds}


@pytest.mark.parametrize(("variable", "value"), [
    ("DATABASE_STATEMENT_TIMEOUT", "-1"),
    ("DATABASE_STATEMENT_TIMEOUT", "2.5"),  # the driver takes whole seconds
    ("DATABASE_CONNECT_TIMEOUT", "0"),
])
def test_unusable_database_timeouts_are_refused(variable, value):
    with pytest.raises(ConfigurationError, match=variable):
        ProdConfig({"SECRET_KEY": REAL_KEY, "DATABASE_URL": MYSQL, variable: value})


def test_sqlite_gets_no_driver_timeouts():
    assert "connect_args" not in DevConfig({"DATABASE_STATEMENT_TIMEOUT": "3"}).SQLALCHEMY_ENGINE_OPTIONS


class StopConnecting(Exception):
    """Raised by the test's do_connect hook once it has seen what the driver would be given."""


def test_the_statement_timeout_reaches_the_driver():
    """What mysql-connector's connect() receives from the app's own engine (Flask-SQLAlchemy, SQLAlchemy's
    mysqlconnector dialect): the statement bound, the lock waits and the connect timeout."""
    app = create_app(TestConfig({"DATABASE_STATEMENT_TIMEOUT": "4", "DATABASE_CONNECT_TIMEOUT": "2"},
                                database_url=MYSQL))
    seen = {}

    def capture(_dialect, _record, _cargs, cparams):
        seen.update(cparams)
        raise StopConnecting

    with app.app_context():
        event.listen(db.engine, "do_connect", capture)
        try:
            with pytest.raises(StopConnecting):
                db.engine.connect()
        finally:
            event.remove(db.engine, "do_connect", capture)
    assert seen["read_timeout"] == seen["write_timeout"] == 4
    assert seen["connection_timeout"] == 2
    assert seen["init_command"] == "SET SESSION innodb_lock_wait_timeout = 3, lock_wait_timeout = 3"


def test_migrations_run_without_the_statement_bound():
    """DDL may take minutes: migrations/env.py connects with the same options minus the statement bounds."""
    options = ProdConfig({"SECRET_KEY": REAL_KEY, "DATABASE_URL": MYSQL}).SQLALCHEMY_ENGINE_OPTIONS
    unbounded = unbounded_engine_options(options)
    assert unbounded["connect_args"] == {"connection_timeout": options["connect_args"]["connection_timeout"]}
    assert {k: v for k, v in unbounded.items() if k != "connect_args"} == \
        {k: v for k, v in options.items() if k != "connect_args"}
    assert "read_timeout" in options["connect_args"]  # the app's own options are left as they were


def test_production_is_the_default_environment(monkeypatch):
    monkeypatch.delenv("GATEHOUSE_ENV", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        create_app()


def test_unknown_environment_name_is_refused():
    with pytest.raises(ConfigurationError, match="GATEHOUSE_ENV"):
        config_for("staging")


def test_development_defaults_to_embedded_sqlite_and_a_random_key():
    config = DevConfig({})
    assert config.SQLALCHEMY_DATABASE_URI.startswith("sqlite:///")
    assert len(config.SECRET_KEY) >= 32
    assert DevConfig({}).SECRET_KEY != config.SECRET_KEY
