"""Configuration: production refuses to start unsafe, and names the variable."""
import pytest

from app import create_app
from app.configs import ConfigurationError, DevConfig, ProdConfig, config_for

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
    assert config.SQLALCHEMY_ENGINE_OPTIONS["connect_args"]["connection_timeout"] == 5


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
