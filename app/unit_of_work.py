"""Units of work: a use case's writes commit together or not at all, in one lock order, and a unit of work that
loses a lock race runs again (a bounded number of times) instead of answering 500.

The mechanism, in this one module:

- **Transaction and retry.** `run(work)` is the `transaction` package's `TransactionManager.run(func, tries)`: it
  begins a zope transaction, calls `work()`, commits, and when `work` or the commit raises an error the transaction's
  data managers call retryable, aborts and calls `work()` again, at most ATTEMPTS times in all. (`run` is the
  successor of `attempts()` in the same package; `return` inside `with attempt:` would return a result whose commit
  failed and was retried.) The database session joins through zope.sqlalchemy, whose `SessionDataManager.
  should_retry` is what decides: its own list (StaleDataError: a row changed or vanished under an ORM flush) extended
  here with MySQL/MariaDB's 1213 ER_LOCK_DEADLOCK and 1205 ER_LOCK_WAIT_TIMEOUT (mysql-connector) and SQLite's
  SQLITE_BUSY ("database is locked": the write lock not granted within the busy timeout). `transaction` itself
  retries `TransientError`, which `ConcurrentChange` is. Every retry is logged, counted in
  `gatehouse_transaction_retries_total{reason}` (through the `transaction_retried` signal) and begins on fresh state:
  everything `work` read is read again. Mail queued by a failed attempt is discarded with it (repoze.sendmail joins
  the same transaction).
- **One lock order: the user's row first.** A unit of work that touches a user's sessions, refresh tokens, one-time
  tokens or credentials first locks that user's row with `lock_user` (`SELECT ... FOR UPDATE`); the functions that
  touch them call `require_user_lock`, which raises LockOrderViolation (a bug, so a 500 in tests) when the unit of
  work has not. Two units of work on one account then queue on one row instead of deadlocking on two tables.
- **SQLite.** `run` begins with `BEGIN IMMEDIATE` (the sqlite3 module's own BEGIN is off: app/extensions.py): the
  write lock from the first statement, waiting up to the driver's 5 s busy timeout, so a unit of work's reads and
  writes are serialized with every other writer, as the row locks serialize them on MariaDB (SQLite ignores
  `FOR UPDATE`).
- **A taken email.** A unique-email violation anywhere in a unit of work (the session flushes a new address whenever
  it next runs a statement, or at commit) aborts it all and raises EmailTaken (409).
"""
import functools
import logging
import re
import sqlite3
import threading

import transaction
from blinker import Namespace
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from transaction.interfaces import TransientError
from zope.sqlalchemy import datamanager

from app.entities import User
from app.errors import EmailTaken
from app.extensions import db

try:
    from mysql.connector.errors import Error as MySQLError
except ImportError:  # pragma: no cover - mysql-connector-python is a production requirement
    MySQLError = None

logger = logging.getLogger(__name__)

# Calls of `work` per unit of work, the first included. Each lost race costs one lock wait at most (a deadlock is
# detected at once; a lock-wait timeout takes DATABASE_STATEMENT_TIMEOUT - 1 s on MySQL/MariaDB, the busy timeout,
# 5 s, on SQLite); a third loss in a row answers 503 (app/problems.py), the client may retry.
ATTEMPTS = 3
MYSQL_DEADLOCK = 1213  # ER_LOCK_DEADLOCK: InnoDB chose this transaction as the victim and rolled it back
MYSQL_LOCK_WAIT_TIMEOUT = 1205  # ER_LOCK_WAIT_TIMEOUT: a row lock not granted within innodb_lock_wait_timeout
_RETRYABLE_MYSQL = {MYSQL_DEADLOCK: "deadlock", MYSQL_LOCK_WAIT_TIMEOUT: "lock_wait_timeout"}

_signals = Namespace()
# Sent (sender: the Flask app) before a unit of work runs again, with `name` (the use case) and `reason`
# (retry_reason).
transaction_retried = _signals.signal("gatehouse.transaction-retried")

# The unique constraint on users.email as each database names it in a violation: SQLite by column, MariaDB by key,
# MySQL 8 by table-qualified key.
_EMAIL_TAKEN = re.compile(r"UNIQUE constraint failed: users\.email\b|for key '(?:users\.)?uq_users_email'")
_LOCKED_USERS = "gatehouse.locked_users"  # Session.info key: {user id: User} locked by this unit of work
_running = threading.local()


class ConcurrentChange(TransientError):
    """Raised by a unit of work that finds a row it read a moment earlier gone or changed when it locks it (another
    unit of work committed in between): the unit of work runs again on fresh state."""


class LockOrderViolation(RuntimeError):
    """A unit of work touched a user's sessions or tokens without locking the user's row first (a bug)."""


def _sqlite_busy(error):
    return (getattr(error, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY


def _mysql_retryable(error):
    return getattr(error, "errno", None) in _RETRYABLE_MYSQL


# zope.sqlalchemy's SessionDataManager.should_retry looks the driver error (`DBAPIError.orig`) up in this list of
# (class, test) pairs. tests/test_transactions.py checks that it still does, for each error added here.
datamanager._retryable_errors.append((sqlite3.OperationalError, _sqlite_busy))
if MySQLError is not None:
    datamanager._retryable_errors.append((MySQLError, _mysql_retryable))


def retry_reason(error):
    """Why `error` makes a unit of work run again: "deadlock", "lock_wait_timeout" (MySQL/MariaDB), "database_locked"
    (SQLite), "stale_data", "concurrent_change"; None when it does not (decided by the data managers, see above)."""
    if isinstance(error, ConcurrentChange):
        return "concurrent_change"
    if isinstance(error, StaleDataError):
        return "stale_data"
    original = error.orig if isinstance(error, DBAPIError) else None
    if MySQLError is not None and isinstance(original, MySQLError) and _mysql_retryable(original):
        return _RETRYABLE_MYSQL[original.errno]
    if isinstance(original, sqlite3.OperationalError) and _sqlite_busy(original):
        return "database_locked"
    return None


def run(work, name=None):
    """Run `work()` (no arguments) as one unit of work and return its result: committed when it returns, aborted
    when it raises. Runs it again, up to ATTEMPTS calls in all, when it loses a lock race (see the module doc); the
    last attempt's error propagates. Raises EmailTaken for a unique-email violation, and RuntimeError when called
    inside another unit of work (its `begin` would abort the outer one's transaction)."""
    if getattr(_running, "name", None) is not None:
        raise RuntimeError(f"unit of work {name!r} started inside unit of work {_running.name!r}")
    name = name or getattr(work, "__qualname__", "unit of work")
    calls = 0
    failure = None

    def attempt():
        nonlocal calls, failure
        calls += 1
        if calls > 1:
            reason = retry_reason(failure) or "commit"
            logger.warning("unit of work %s lost a race (%s): attempt %d of %d", name, reason, calls, ATTEMPTS)
            transaction_retried.send(current_app._get_current_object(), name=name, reason=reason)
        failure = None
        db.session.info.pop(_LOCKED_USERS, None)  # the scoped session (and its info) outlives a transaction
        connection = db.session.connection()
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            return work()
        except Exception as error:
            failure = error
            raise

    attempt.__name__ = name
    _running.name = name
    try:
        return transaction.manager.run(attempt, tries=ATTEMPTS)
    except IntegrityError as error:
        if _EMAIL_TAKEN.search(str(error.orig)):
            raise EmailTaken() from error
        raise
    finally:
        _running.name = None
        db.session.info.pop(_LOCKED_USERS, None)


def unit_of_work(method):
    """Decorator: every call of `method` is one unit of work (`run`), named after it."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        return run(functools.partial(method, *args, **kwargs), name=method.__qualname__)
    return wrapper


def lock_user(user_id):
    """Lock the row of user `user_id` for the rest of the unit of work and return the User, or None when no user has
    that id (any more). The first lock a unit of work takes on an account (see the module doc); locking the same
    user again returns the same User without another query."""
    held = db.session.info.get(_LOCKED_USERS, {}).get(user_id)
    if held is not None:
        return held
    return _hold(db.session.get(User, user_id, with_for_update=True, populate_existing=True))


def lock_user_by_email(email):
    """`lock_user` for the user with this normalized email, or None. A locking read: it sees the latest committed
    row, and a user deleted meanwhile is not found."""
    return _hold(db.session.scalars(select(User).where(User.email == email).with_for_update()).unique().first())


def locked_new_user(user):
    """Record `user`, just inserted and flushed by this unit of work, as locked (its new row is this transaction's
    until it commits)."""
    return _hold(user)


def _hold(user):
    """Record `user` (a User whose row this unit of work holds, or None) for require_user_lock; returns it."""
    if user is not None:
        db.session.info.setdefault(_LOCKED_USERS, {})[user.id] = user
    return user


def require_user_lock(user_id):
    """Raise LockOrderViolation unless this unit of work locked user `user_id` (lock_user) or created it."""
    if user_id not in db.session.info.get(_LOCKED_USERS, ()):
        raise LockOrderViolation(f"lock user {user_id} (app.unit_of_work.lock_user) before touching their sessions "
                                 "or tokens")
