"""Flask extensions, created unbound here and bound to an app in the factory (no circular imports)."""
from flask import g
from flask_httpauth import HTTPTokenAuth
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase
from zope.sqlalchemy import register as register_zope_session
from zope.sqlalchemy.datamanager import STATUS_CHANGED

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
# Core statement (bulk UPDATE/DELETE) inside `transaction.manager` commits too instead of being silently rolled back.
register_zope_session(db.session, initial_state=STATUS_CHANGED)

migrate = Migrate()


def read_connection():
    """The connection reads go through: pooled, checked out on first use, closed when the request (or, outside a
    request, the app context) ends, so no snapshot outlives its request even when requests share an app context.

    Reads stay outside the zope transaction, which exists to make writes all-or-nothing (joining it costs a
    session, a data manager and an abort per request, ~60 µs). Each request reads one snapshot; code that writes
    returns what it wrote instead of reading it back through here. A writing request holds two pooled connections.
    """
    connection = g.get("_read_connection")
    if connection is None:
        connection = g._read_connection = db.engine.connect()
    return connection


def close_read_connection(_exc=None):
    """Teardown (request and app context): return the read connection to the pool, ending its transaction."""
    connection = g.pop("_read_connection", None)
    if connection is not None:
        connection.close()

# RFC 6750 bearer tokens; the callbacks live in app/controllers/security.py.
auth = HTTPTokenAuth(scheme="Bearer", realm="gatehouse")


@event.listens_for(Engine, "connect")
def _sqlite_foreign_keys(dbapi_connection, _record):
    """SQLite enforces foreign keys (ON DELETE CASCADE) only when asked, per connection."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
