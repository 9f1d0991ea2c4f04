"""Flask extensions, created unbound here and bound to an app in the factory (no circular imports)."""
import logging
import time
import weakref

from flask import g
from flask_httpauth import HTTPTokenAuth
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase
from zope.sqlalchemy import register as register_zope_session
from zope.sqlalchemy.datamanager import STATUS_CHANGED

try:
    from mysql.connector.errors import ConnectionTimeoutError, ReadTimeoutError, WriteTimeoutError
    from mysql.connector.errors import OperationalError as MySQLOperationalError
except ImportError:  # pragma: no cover - mysql-connector-python is a production requirement
    _MYSQL_TIMEOUTS, MySQLOperationalError = (), None
else:
    _MYSQL_TIMEOUTS = (ReadTimeoutError, WriteTimeoutError, ConnectionTimeoutError)

logger = logging.getLogger(__name__)

# Every constraint and index gets a predictable name, so migrations can alter or drop it on any database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every entity; carries the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# expire_on_commit=False: zope.sqlalchemy closes the session on commit, and services return the entities they wrote.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
# Exactly once per `db`: a second registration would double the listeners. Sessions start as "changed", so a
# Core statement (bulk UPDATE/DELETE) inside a unit of work commits too instead of being silently rolled back.
register_zope_session(db.session, initial_state=STATUS_CHANGED)

migrate = Migrate()


def read_connection():
    """The connection reads go through: pooled, checked out on first use, closed when the request (or, outside a
    request, the app context) ends, so no snapshot outlives its request even when requests share an app context.

    Reads stay outside the zope transaction, which exists to make writes all-or-nothing (joining it costs a
    session, a data manager and an abort per request; measured: docs/performance.md, "Per-request overheads").
    Each request reads one snapshot; code that writes returns what it wrote instead of reading it back through
    here. A writing request holds two pooled connections.
    """
    connection = g.get("_read_connection")
    if connection is None:
        connection = g._read_connection = db.engine.connect()
    return connection


def close_read_connection(_exc=None):
    """Teardown (request and app context): return the read connection to the pool, ending its transaction. When the
    database fails that rollback (it went away or stopped answering after the reads), the answer already made
    stands: a teardown must not raise (that would turn it into a 500). The connection is released all the same, and
    the pool discards it when it is unusable."""
    connection = g.pop("_read_connection", None)
    if connection is None:
        return
    try:
        connection.close()
    except DBAPIError as error:
        logger.warning("read connection: rollback failed at the end of the request (%s)",
                       error.orig.__class__.__name__)


def discard_read_connection():
    """After the database failed this request: drop the request's read connection, if any, instead of returning it
    to the pool. Returning it rolls it back on the server, which would wait another DATABASE_STATEMENT_TIMEOUT on a
    server that stopped answering; invalidated, it is closed without waiting and replaced on a later checkout."""
    connection = g.pop("_read_connection", None)
    if connection is not None:
        connection.invalidate()
        connection.close()

# RFC 6750 bearer tokens; the callbacks live in app/controllers/security.py.
auth = HTTPTokenAuth(scheme="Bearer", realm="gatehouse")


def _timed_out(error):
    """True when a mysql-connector timeout caused `error`: its own ReadTimeoutError or WriteTimeoutError (a statement
    on an open connection: DATABASE_STATEMENT_TIMEOUT), ConnectionTimeoutError (DATABASE_CONNECT_TIMEOUT), or the
    InterfaceError its ping() raises "from" one of them. These derive from the driver's base Error only, so neither
    SQLAlchemy nor the driver counts them as a lost connection."""
    while error is not None:
        if isinstance(error, _MYSQL_TIMEOUTS):
            return True
        error = error.__cause__
    return False


# Seconds during which, after the database did not answer in time, the engine refuses to open connections at once
# (a 503, no waiting) instead of waiting DATABASE_CONNECT_TIMEOUT again for a server that just did not answer; then
# the next request tries again. Without it, under a frozen database each request waits out its own timeout and the
# requests queued behind it in a sync worker wait for all of those in turn. Recovery after a thaw: at most this.
UNANSWERED_HOLD_SECONDS = 1.0
_unanswered_until = weakref.WeakKeyDictionary()  # Dialect (one per engine) -> time.monotonic() of the next attempt


def _unavailable(error):
    """True for mysql-connector's OperationalError "MySQL Connection not available" (with or without the final
    period; SQLAlchemy only recognises it with one). Its cursor() raises it, without a cause, when the ping it sends
    first (is_connected()) fails: on a server that stopped answering, after DATABASE_STATEMENT_TIMEOUT."""
    return isinstance(error, MySQLOperationalError) and "MySQL Connection not available" in str(error)


@event.listens_for(Engine, "handle_error")
def _database_timeouts_are_lost_connections(context):
    """A driver timeout means the server stopped answering on that connection: its socket may still deliver the late
    reply, so the connection is unusable. Count it as lost: SQLAlchemy invalidates it and the pool's older
    connections (replaced on their next checkout), the error carries `connection_invalidated`, which app/problems.py
    answers with a 503 problem, and the engine holds off new connections for UNANSWERED_HOLD_SECONDS (so a pre-ping
    that timed out, which makes the pool connect again at once, fails the checkout without a second wait).

    "MySQL Connection not available" counts as lost too (else the pool would roll the connection back on its return,
    a second wait), without the hold: its cause is not known (a server restart causes it as well), and the next
    connection attempt sets the hold if the server is hung."""
    error = context.original_exception
    if _MYSQL_TIMEOUTS and _timed_out(error):
        context.is_disconnect = True
        _unanswered_until[context.dialect] = time.monotonic() + UNANSWERED_HOLD_SECONDS
    elif _unavailable(error):
        context.is_disconnect = True


@event.listens_for(Engine, "do_connect")
def _hold_off_while_unanswered(dialect, _record, _cargs, _cparams):
    """Refuse to connect (OperationalError: a 503) within UNANSWERED_HOLD_SECONDS of a timeout on this engine."""
    deadline = _unanswered_until.get(dialect)
    if deadline is not None and time.monotonic() < deadline:
        raise dialect.loaded_dbapi.OperationalError(
            msg=f"not connecting: the database did not answer in time less than {UNANSWERED_HOLD_SECONDS} s ago")
    return None  # connect as usual


@event.listens_for(Engine, "connect")
def _sqlite_connection(dbapi_connection, _record):
    """SQLite: enforce foreign keys (ON DELETE CASCADE), which it does only when asked, per connection; and take
    transaction control from the sqlite3 module (SQLAlchemy's documented recipe, "Enabling Non-Legacy SQLite
    Transactional Modes"): its legacy mode begins a transaction only before an INSERT/UPDATE/DELETE, so a unit of
    work's reads ran outside it and nothing serialized them with other writers. Now the sqlite3 module begins
    nothing: a unit of work issues `BEGIN IMMEDIATE` (app/unit_of_work.py), migrations `BEGIN` (migrations/env.py),
    and everything else, the request's reads among them, runs each statement as its own transaction (as the legacy
    mode ran reads), holding no lock past it. The recipe's `begin` event is not used: an event on every connection's
    begin costs each read request several microseconds of SQLAlchemy's event dispatch (docs/decisions/0003)."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        dbapi_connection.isolation_level = None
