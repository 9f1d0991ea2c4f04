"""The unit layer: the services' rules run against the in-memory unit of work of tests/unit/fakes.py, wired by the
app's own injector module with the storage bindings swapped; no Flask app, no database."""
import flask
import pytest
import sqlalchemy
from flask import Config
from injector import Injector

from app import dependencies
from app.configs import TestConfig
from app.queries.users import UserQueries
from app.services.ports import Transactions
from tests.unit.fakes import FakeTransactions, FakeUserQueries, Store


@pytest.fixture(autouse=True)
def _no_app_and_no_database(monkeypatch):
    """The unit layer must not need them: making a Flask app or connecting to a database fails the test."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("a unit test made a Flask app or connected to a database")
    monkeypatch.setattr(flask.Flask, "__init__", refuse)
    monkeypatch.setattr(sqlalchemy.engine.Engine, "connect", refuse)


@pytest.fixture
def store():
    return Store()


@pytest.fixture
def config():
    """The test configuration's values (cheap argon2), as services read them; no mail queue directory is made."""
    settings = TestConfig(environ={"MAIL_QUEUE_PATH": "unused", "SECRET_KEY": TestConfig.PROCESS_SECRET_KEY})
    return {key: getattr(settings, key) for key in dir(settings) if key.isupper()}


@pytest.fixture
def services(store, config):
    """`services.get(SomeService)`: the app's bindings, with the store behind every unit of work and read."""
    transactions = FakeTransactions(store)

    def fakes(binder):
        binder.bind(Config, to=config)
        binder.bind(Transactions, to=transactions)
        binder.bind(UserQueries, to=FakeUserQueries(store))

    injector = Injector([dependencies.configure, fakes])
    assert injector.get(Transactions) is transactions
    return injector
