"""Configuration: production refuses to start unsafe, and names the variable; gunicorn.conf.py reads its settings with
the same parser (app.runtime.EnvReader)."""
import os
import runpy
from pathlib import Path

import pytest
from sqlalchemy import event

from app import create_app
from app.configs import (
    CHEAP_ARGON2,
    OWASP_ARGON2,
    ConfigurationError,
    DevConfig,
    ProdConfig,
    TestConfig,
    config_for,
    unbounded_engine_options,
)
from app.extensions import db

REAL_KEY = "k" * 43
MYSQL = "mysql+mysqlconnector://u:p@127.0.0.1/db"
GUNICORN_CONF = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"
# What gunicorn.conf.py reads, cleared from the environment before loading it in a test
GUNICORN_SETTINGS = ("GUNICORN_", "WEB_CONCURRENCY", "DRAIN_SECONDS", "BIND", "PORT", "LOG_FORMAT", "GATEHOUSE_ENV",
                     "FORWARDED_ALLOW_IPS", "PROMETHEUS_MULTIPROC_DIR")


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


# --- the parser (app.runtime.EnvReader, environs), shared with gunicorn.conf.py --------------------------------

@pytest.mark.parametrize(("environ", "message"), [
    ({"ACCESS_TOKEN_TTL": "soon"}, "ACCESS_TOKEN_TTL must be an integer, got 'soon'"),
    ({"ACCESS_TOKEN_TTL": "0"}, "ACCESS_TOKEN_TTL must be a positive number of seconds"),
    ({"REFRESH_TOKEN_TTL": "-5"}, "REFRESH_TOKEN_TTL must be a positive number of seconds"),
    ({"DATABASE_STATEMENT_TIMEOUT": "-1"},
     "DATABASE_STATEMENT_TIMEOUT must be a number of seconds, or 0 for no bound"),
    ({"PROXY_HOPS": "-1"}, "PROXY_HOPS must be 0 (no proxy) or the number of proxies in front"),
    ({"REQUIRE_IF_MATCH": "Perhaps"}, "REQUIRE_IF_MATCH must be true or false, got 'Perhaps'"),
    ({"METRICS_ALLOWED_NETWORKS": "10.0.0.1/8"},
     "METRICS_ALLOWED_NETWORKS: '10.0.0.1/8' is not a network like 10.0.0.0/8 (host bits unset)"),
    ({"LOG_FORMAT": "XML"}, "LOG_FORMAT must be json or text, got 'xml'"),
    ({"MAIL_USE_TLS": "yes", "MAIL_USE_SSL": "on"},
     "Set at most one of MAIL_USE_TLS (STARTTLS) and MAIL_USE_SSL (implicit TLS)"),
])
def test_refusals_name_the_variable_in_the_same_words(environ, message):
    with pytest.raises(ConfigurationError) as refused:
        ProdConfig({"SECRET_KEY": REAL_KEY, "DATABASE_URL": MYSQL, **environ})
    assert str(refused.value) == message


def test_an_empty_or_blank_value_counts_as_unset():
    """docker-compose's env_file passes `NAME=` as an empty string: the default applies, as in gunicorn.conf.py."""
    config = ProdConfig({"SECRET_KEY": REAL_KEY, "DATABASE_URL": MYSQL, "ACCESS_TOKEN_TTL": "", "MAIL_PORT": "  ",
                         "REQUIRE_IF_MATCH": "", "METRICS_ALLOWED_NETWORKS": "", "LOG_FORMAT": " ",
                         "MAIL_SERVER": ""})
    assert (config.ACCESS_TOKEN_TTL, config.MAIL_PORT, config.REQUIRE_IF_MATCH, config.LOG_FORMAT,
            config.MAIL_SERVER) == (900, 25, False, "json", "localhost")
    assert [str(network) for network in config.METRICS_ALLOWED_NETWORKS] == ["127.0.0.1/32", "::1/128"]


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("TRUE", True), ("Yes", True), ("on", True),
                                            ("0", False), ("false", False), ("NO", False), ("Off", False)])
def test_flags_take_the_four_spellings_of_each_in_any_case(raw, value):
    assert DevConfig({"REQUIRE_IF_MATCH": raw}).REQUIRE_IF_MATCH is value


# --- argon2: OWASP's minimum outside tests, cheap parameters in them ----------------------------------------------

@pytest.mark.parametrize("config_class", [ProdConfig, DevConfig])
@pytest.mark.parametrize("parameters", [{"ARGON2_TIME_COST": "1"}, {"ARGON2_MEMORY_COST": "19455"}, CHEAP_ARGON2])
def test_production_and_development_refuse_argon2_below_the_owasp_minimum(config_class, parameters):
    environ = {"SECRET_KEY": REAL_KEY, "DATABASE_URL": MYSQL, **{k: str(v) for k, v in parameters.items()}}
    with pytest.raises(ConfigurationError, match=r"ARGON2_MEMORY_COST must be at least 19456 .*\(OWASP minimum\)"):
        config_class(environ)


@pytest.mark.parametrize("config_class", [ProdConfig, DevConfig])
def test_production_and_development_default_to_the_owasp_minimum(config_class):
    config = config_class({"SECRET_KEY": REAL_KEY, "DATABASE_URL": MYSQL})
    assert {name: getattr(config, name) for name in OWASP_ARGON2} == OWASP_ARGON2


def test_tests_default_to_cheap_argon2_and_accept_any_parameters():
    assert {name: getattr(TestConfig({}), name) for name in CHEAP_ARGON2} == CHEAP_ARGON2
    config = TestConfig({"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "64", "ARGON2_PARALLELISM": "2"})
    assert (config.ARGON2_TIME_COST, config.ARGON2_MEMORY_COST, config.ARGON2_PARALLELISM) == (1, 64, 2)
    assert TestConfig(**OWASP_ARGON2).ARGON2_MEMORY_COST == 19456  # what tests about hashing ask for


# --- gunicorn.conf.py reads its settings with the same parser ----------------------------------------------------

def load_gunicorn_conf(monkeypatch, **environ):
    """gunicorn.conf.py's namespace for `environ` alone (a developer's .env and environment play no part)."""
    for name in [n for n in os.environ if n.startswith(GUNICORN_SETTINGS)]:
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("dotenv.load_dotenv", lambda *args, **kwargs: False)
    return runpy.run_path(str(GUNICORN_CONF))


def test_gunicorn_conf_reads_its_settings_and_defaults(monkeypatch):
    conf = load_gunicorn_conf(monkeypatch, WEB_CONCURRENCY="3", DRAIN_SECONDS="2.5", GUNICORN_ACCESS_LOG="Yes",
                              BIND=" ", PORT="8000", GUNICORN_TIMEOUT="")
    assert (conf["workers"], conf["DRAIN_SECONDS"], conf["accesslog"], conf["timeout"]) == (3, 2.5, "-", 30)
    assert conf["bind"] == ["0.0.0.0:8000"]  # an empty BIND is unset: PORT applies
    assert conf["logger_class"] is conf["JsonLogger"]  # production (GATEHOUSE_ENV unset) logs JSON


@pytest.mark.parametrize(("environ", "message"), [
    ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY must be at least 1, got 0"),
    ({"WEB_CONCURRENCY": "two"}, "WEB_CONCURRENCY must be an integer, got 'two'"),
    ({"DRAIN_SECONDS": "soon"}, "DRAIN_SECONDS must be a number, got 'soon'"),
    ({"GUNICORN_ACCESS_LOG": "sometimes"}, "GUNICORN_ACCESS_LOG must be true or false, got 'sometimes'"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be json or text, got 'xml'"),
    ({"DRAIN_SECONDS": "30"}, "GUNICORN_GRACEFUL_TIMEOUT (30 s) must exceed DRAIN_SECONDS (30.0 s)"),
])
def test_gunicorn_conf_refuses_bad_settings_naming_them(monkeypatch, environ, message):
    with pytest.raises(RuntimeError) as refused:
        load_gunicorn_conf(monkeypatch, **environ)
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize(("environ", "json_lines"), [
    ({}, True), ({"GATEHOUSE_ENV": "production"}, True), ({"GATEHOUSE_ENV": "development"}, False),
    ({"GATEHOUSE_ENV": "development", "LOG_FORMAT": "json"}, True), ({"LOG_FORMAT": "text"}, False),
])
def test_gunicorn_logs_in_the_apps_log_format(monkeypatch, environ, json_lines):
    conf = load_gunicorn_conf(monkeypatch, **environ)
    assert (conf.get("logger_class") is conf["JsonLogger"]) is json_lines
