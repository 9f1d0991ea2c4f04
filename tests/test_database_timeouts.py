"""A MySQL server that stops answering: bounded waits end as lost connections (503), and the engine holds off new
connections briefly instead of waiting again (app/extensions.py, app/configs.py DATABASE_STATEMENT_TIMEOUT).

No server is needed: a TCP listener that accepts and never answers stands for a frozen server while connecting, and
stand-in DBAPI connections raising mysql-connector's own errors, where the driver raises them, stand for one on open
connections. The system suite (tests/system/test_database_faults.py) proves the same on a real MariaDB frozen with
SIGSTOP.
"""
import os
import socket
import time

import pytest
import sqlalchemy as sa
from mysql.connector.errors import ConnectionTimeoutError, ReadTimeoutError
from mysql.connector.errors import InterfaceError as DriverInterfaceError
from mysql.connector.errors import OperationalError as DriverOperationalError
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, OperationalError

from app import create_app
from app.configs import TestConfig
from app.extensions import close_read_connection, db, read_connection
from app.problems import handle_database_unavailable
from tests.support import ApiClient

MYSQL = "mysql+mysqlconnector://nobody:nothing@127.0.0.1:9/none"


@pytest.fixture
def silent_server():
    """host:port of a listener whose connections the kernel accepts and nobody ever answers (a frozen server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def test_a_server_that_never_answers_is_a_503_within_the_connect_timeout_then_at_once(silent_server):
    app = create_app(TestConfig({**os.environ, "DATABASE_CONNECT_TIMEOUT": "1"},
                                database_url=f"mysql+mysqlconnector://nobody:nothing@{silent_server}/none"))
    client = ApiClient(app)

    started = time.monotonic()
    ready = client.get("/ready", status=503)
    waited = time.monotonic() - started
    assert ready.content_type == "application/problem+json"
    assert 0.9 <= waited < 1.8  # DATABASE_CONNECT_TIMEOUT, and no second attempt

    started = time.monotonic()  # within the hold: no connection attempt, no wait
    login = client.post_json("/api/v1/auth/login", {"email": "a@example.com", "password": "whatever1"}, status=503)
    assert time.monotonic() - started < 0.5
    assert login.content_type == "application/problem+json"
    assert login.json["status"] == 503
    assert login.headers["Retry-After"] == "5"
    assert "Traceback" not in login.text


class StandInServer:
    """Hands out stand-in DBAPI connections that fail as mysql-connector 26 does against a server that stopped
    answering (`frozen`): each wait for an answer raises ReadTimeoutError once read_timeout has passed; its ping()
    turns that into InterfaceError "Connection to MySQL is not available"; its cursor() pings first
    (is_connected()) and raises OperationalError "MySQL Connection not available" when the ping fails; connecting
    raises ConnectionTimeoutError once connection_timeout has passed. `freeze_after_cursor`: the server stops
    answering while a statement is under way (after its cursor was made)."""

    def __init__(self):
        self.frozen = self.freeze_after_cursor = False
        self.connections, self.attempts = [], 0

    def connect(self, *_args, **_kwargs):
        self.attempts += 1
        if self.frozen:
            raise ConnectionTimeoutError(errno=2003)
        connection = StandInConnection(self)
        self.connections.append(connection)
        return connection


class StandInConnection:
    def __init__(self, server):
        self.server, self.closed = server, False

    def _answer(self):
        if self.server.frozen:
            raise ReadTimeoutError(errno=3024)

    def ping(self, reconnect=False):
        try:
            self._answer()
        except ReadTimeoutError as error:
            raise DriverInterfaceError("Connection to MySQL is not available") from error

    def cursor(self, **_kwargs):
        try:
            self._answer()  # is_connected(): a ping whose failure it swallows
        except ReadTimeoutError:
            raise DriverOperationalError("MySQL Connection not available") from None
        if self.server.freeze_after_cursor:
            self.server.frozen = True
        return StandInCursor(self)

    def commit(self):
        self._answer()

    def rollback(self):
        self._answer()

    def close(self):
        self.closed = True


class StandInCursor:
    description = (("1", 8, None, None, None, None, False),)
    rowcount, lastrowid = 1, None

    def __init__(self, connection):
        self.connection = connection

    def execute(self, _statement, _parameters=None):
        self.connection._answer()

    def fetchone(self):
        return (1,)

    def fetchall(self):
        return [(1,)]

    def close(self):
        pass


@pytest.fixture
def stand_in(monkeypatch):
    """(engine, server): the mysqlconnector dialect with pre-ping, as the app configures it, on stand-in
    connections; a hold of 0.2 s instead of 1 s."""
    monkeypatch.setattr("app.extensions.UNANSWERED_HOLD_SECONDS", 0.2)
    server = StandInServer()
    # _initialize=False: the dialect's first-connect probe (server version, sql_mode...) needs a real server
    engine = sa.create_engine(MYSQL, pool_pre_ping=True, _initialize=False)
    # Through do_connect, like the driver's connect(): the app's hold-off hook (on every engine) runs before it.
    event.listen(engine, "do_connect", lambda _dialect, _record, cargs, cparams: server.connect(*cargs, **cparams))
    yield engine, server
    engine.dispose()


def select_one(engine):
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT 1")).scalar()


def thaw_and_recover(engine, server):
    server.frozen = server.freeze_after_cursor = False
    time.sleep(0.25)  # the hold is over: the service recovers by itself
    assert select_one(engine) == 1


def test_a_statement_that_times_out_loses_its_connection_and_connecting_is_held_off_briefly(stand_in):
    engine, server = stand_in
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT 1")).scalar() == 1
        server.freeze_after_cursor = True
        with pytest.raises(DBAPIError) as caught:
            connection.execute(sa.text("SELECT 1"))
    assert caught.value.connection_invalidated  # app/problems.py: 503
    assert isinstance(caught.value.orig, ReadTimeoutError)
    assert server.connections[0].closed  # discarded, never reused (nor rolled back) with a late answer pending

    with pytest.raises(OperationalError, match="did not answer"):  # held off: no connection attempt, no wait
        select_one(engine)
    assert server.attempts == 1
    thaw_and_recover(engine, server)
    assert server.attempts == 2


def test_a_freeze_between_two_statements_loses_the_connection_then_one_connect_timeout_holds_off(stand_in):
    engine, server = stand_in
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT 1")).scalar() == 1
        server.frozen = True
        with pytest.raises(OperationalError, match="MySQL Connection not available") as caught:  # cursor()'s ping
            connection.execute(sa.text("SELECT 1"))
    assert caught.value.connection_invalidated
    assert server.connections[0].closed  # not rolled back on its return: that would wait once more

    with pytest.raises(DBAPIError) as caught:  # cause unknown (a restart too): the next request tries to connect
        select_one(engine)
    assert isinstance(caught.value.orig, ConnectionTimeoutError)
    assert caught.value.connection_invalidated  # app/problems.py: 503
    assert server.attempts == 2
    with pytest.raises(OperationalError, match="did not answer"):  # which holds off the ones after it
        select_one(engine)
    assert server.attempts == 2
    thaw_and_recover(engine, server)


def test_a_pre_ping_that_times_out_fails_the_checkout_without_waiting_for_a_new_connection(stand_in):
    engine, server = stand_in
    assert select_one(engine) == 1  # one pooled connection
    server.frozen = True
    with pytest.raises(OperationalError, match="did not answer"):  # pinged, lost, held off: no connection attempt
        select_one(engine)
    assert server.connections[0].closed
    assert server.attempts == 1
    thaw_and_recover(engine, server)


def test_a_database_failure_discards_the_requests_read_connection_instead_of_returning_it(app):
    """Returned to the pool, it would be rolled back ("reset"): one more wait on a server that stopped answering."""
    seen = {"invalidate": [], "reset": []}

    def on(name):
        def record(dbapi_connection, *_args):
            seen[name].append(dbapi_connection)
        return record

    hooks = [(name, on(name)) for name in seen]
    with app.test_request_context():
        for name, hook in hooks:
            event.listen(db.engine, name, hook)
        try:
            connection = read_connection()
            assert connection.execute(sa.text("SELECT 1")).scalar() == 1
            driver_connection = connection.connection.dbapi_connection
            response = handle_database_unavailable(
                OperationalError("SELECT 1", {}, DriverInterfaceError("lost"), connection_invalidated=True))
            assert response.status_code == 503
            assert read_connection() is not connection  # a later read in the same context starts afresh
        finally:
            for name, hook in hooks:
                event.remove(db.engine, name, hook)
    assert driver_connection in seen["invalidate"]
    assert driver_connection not in seen["reset"]


def test_a_read_connection_whose_rollback_fails_at_teardown_is_discarded_without_an_error(app, monkeypatch):
    """The database went away after the request's reads: its answer stands (a teardown that raised would make it a
    500), and the connection is not returned to the pool."""
    invalidated = []
    with app.test_request_context():
        connection = read_connection()
        assert connection.execute(sa.text("SELECT 1")).scalar() == 1

        def lost(_dbapi_connection):
            raise db.engine.dialect.loaded_dbapi.OperationalError("the database went away")  # SQLite or MySQL
        monkeypatch.setattr(db.engine.dialect, "do_rollback", lost)
        hook = lambda dbapi_connection, *_args: invalidated.append(dbapi_connection)  # noqa: E731
        event.listen(db.engine, "invalidate", hook)
        try:
            driver_connection = connection.connection.dbapi_connection
            close_read_connection()
        finally:
            event.remove(db.engine, "invalidate", hook)
    assert driver_connection in invalidated
