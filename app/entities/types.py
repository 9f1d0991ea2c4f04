"""Column types shared by entities."""
import datetime as dt

from sqlalchemy import DateTime, LargeBinary, String
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator


def binary_string(length):
    """A VARCHAR compared byte for byte: utf8mb4_bin on MySQL/MariaDB (SQLite compares bytes already). For values
    that are identifiers (an OpenID `sub`) or stored normalized (lower-cased emails), where the default collations'
    folding of case, accents, widths and trailing spaces would make different values equal."""
    return String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb")


def binary(length):
    """Bytes of at most `length`: VARBINARY on MySQL/MariaDB (stored in the row, compared as declared: a BLOB(n)
    becomes TINYBLOB or BLOB there, and Alembic sees drift), BLOB on SQLite."""
    return LargeBinary(length).with_variant(mysql.VARBINARY(length), "mysql", "mariadb")


def utcnow():
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator):
    """A UTC timestamp: stored naive (MySQL DATETIME(6), SQLite text), always returned timezone-aware in UTC.

    Naive values given to it are taken to be UTC already.
    """

    impl = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    cache_ok = True

    @property
    def python_type(self):
        return dt.datetime

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


def render_alembic_type(kind, obj, autogen_context):
    """Alembic autogenerate hook: write UTCDateTime as its plain SQLAlchemy types, so migrations never import app
    code (a migration must keep working after the app's types move or change)."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("from sqlalchemy.dialects import mysql")
        return "sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')"
    return False
