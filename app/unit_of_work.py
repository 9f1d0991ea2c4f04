"""Units of work on SQLAlchemy inside a zope transaction: the implementation of app/services/ports.py's
`Transactions` and `UnitOfWork` that the app binds (app/dependencies.py). A use case's writes, its queued mail and
its after-commit hooks commit together or not at all, in one lock order, and a unit of work that loses a lock race
runs again (a bounded number of times) instead of answering 500.

The mechanism, in this one module (why: docs/decisions/0003-units-of-work-lock-order-and-retries.md):

- **Transaction and retry.** `SqlTransactions.run(work)` is the `transaction` package's `TransactionManager.run(func,
  tries)`: it begins a zope transaction, calls `work(uow)`, commits, and when `work` or the commit raises an error
  the transaction's data managers call retryable, aborts and calls `work` again with a fresh `SqlUnitOfWork`, at most
  ATTEMPTS times in all. (`run` is the successor of `attempts()` in the same package; `return` inside `with attempt:`
  would return a result whose commit failed and was retried.) The database session joins through zope.sqlalchemy,
  whose `SessionDataManager.should_retry` is what decides: its own list (StaleDataError: a row changed or vanished
  under an ORM flush) extended here with MySQL/MariaDB's 1213 ER_LOCK_DEADLOCK and 1205 ER_LOCK_WAIT_TIMEOUT
  (mysql-connector) and SQLite's SQLITE_BUSY ("database is locked": the write lock not granted within the busy
  timeout). A `ConcurrentChange` from `work` reruns it too. Every retry is logged, counted in
  `gatehouse_transaction_retries_total{reason}` (through the `transaction_retried` signal) and begins on fresh state:
  everything `work` read is read again. Mail queued by a failed attempt is discarded with it (repoze.sendmail joins
  the same transaction).
- **One lock order: the user's row first.** The rule and its check live in app/services/ports.py
  (`UserRepository.lock` / `require_lock`); the locks here are `SELECT ... FOR UPDATE` (app/repositories.py).
- **SQLite.** Each attempt begins with `BEGIN IMMEDIATE` (the sqlite3 module's own BEGIN is off: app/extensions.py):
  the write lock from the first statement, waiting up to the driver's 5 s busy timeout, so a unit of work's reads and
  writes are serialized with every other writer, as the row locks serialize them on MariaDB (SQLite ignores
  `FOR UPDATE`).
- **A taken email.** A unique-email violation anywhere in a unit of work (the session flushes a new address whenever
  it next runs a statement, or at commit) aborts it all and raises EmailTaken (409).
"""
import logging
import re
import sqlite3
import threading

import transaction
from blinker import Namespace
from flask import current_app
from injector import inject
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from transaction.interfaces import TransientError
from zope.sqlalchemy import datamanager

from app.errors import EmailTaken
from app.extensions import db
from app.mail import MailQueue
from app.repositories import (
    SqlAuditEventRepository,
    SqlCredentialRepository,
    SqlEntityRepository,
    SqlOneTimeTokenRepository,
    SqlSecondFactorRepository,
    SqlSessionRepository,
    SqlSocialIdentityRepository,
    SqlUserRepository,
)
from app.services import ports

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
_running = threading.local()


class _Rerun(TransientError):
    """A ConcurrentChange, as the `transaction` package's manager retries it (its cause is the ConcurrentChange)."""


def _sqlite_busy(error):
    return (getattr(error, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY


def _mysql_retryable(error):
    return getattr(error, "errno", None) in _RETRYABLE_MYSQL


# zope.sqlalchemy's SessionDataManager.should_retry looks the driver error (`DBAPIError.orig`) up in this list of
# (class, test) pairs. tests/test_unit_of_work.py checks that it still does, for each error added here.
datamanager._retryable_errors.append((sqlite3.OperationalError, _sqlite_busy))
if MySQLError is not None:
    datamanager._retryable_errors.append((MySQLError, _mysql_retryable))


def retry_reason(error):
    """Why `error` makes a unit of work run again: "deadlock", "lock_wait_timeout" (MySQL/MariaDB), "database_locked"
    (SQLite), "stale_data", "concurrent_change"; None when it does not (decided by the data managers, see above)."""
    if isinstance(error, (ports.ConcurrentChange, _Rerun)):
        return "concurrent_change"
    if isinstance(error, StaleDataError):
        return "stale_data"
    original = error.orig if isinstance(error, DBAPIError) else None
    if MySQLError is not None and isinstance(original, MySQLError) and _mysql_retryable(original):
        return _RETRYABLE_MYSQL[original.errno]
    if isinstance(original, sqlite3.OperationalError) and _sqlite_busy(original):
        return "database_locked"
    return None


class MailOutbox(ports.Outbox):
    """The outbox on the mail queue: repoze.sendmail's queued delivery joins the current zope transaction, so a
    message is written to the queue only when the unit of work commits."""

    def __init__(self, queue):
        self.queue = queue

    def send(self, message):
        self.queue.send(message.to, message.subject, message.body, message.html)


class SqlUnitOfWork(ports.UnitOfWork):
    """One attempt: repositories on the Flask-SQLAlchemy session (joined to the zope transaction), the mail outbox,
    after-commit hooks on the zope transaction."""

    def __init__(self, session, outbox):
        self.users = SqlUserRepository(session)
        self.sessions = SqlSessionRepository(session)
        self.one_time_tokens = SqlOneTimeTokenRepository(session)
        self.social_identities = SqlSocialIdentityRepository(session)
        self.audit_events = SqlAuditEventRepository(session)
        self.second_factors = SqlSecondFactorRepository(session)
        self.credentials = SqlCredentialRepository(session)
        self.entities = SqlEntityRepository(session)
        self.outbox = outbox

    def after_commit(self, hook):
        current = transaction.get()
        try:
            hooks = current.data(_AfterCommit)
        except KeyError:
            hooks = _AfterCommit()
            current.join(hooks)
            current.set_data(_AfterCommit, hooks)
        hooks.hooks.append(hook)


class _AfterCommit:
    """A zope transaction data manager that writes nothing: it calls one transaction's after-commit hooks once the
    transaction has committed (tpc_finish, after the database and the mail queue), and forgets them when it aborts.
    (Not the transaction's own `addAfterCommitHook`: after those hooks it aborts every data manager again, which
    repoze.sendmail's refuses with an error in the log.)"""

    def __init__(self):
        self.hooks = []
        self.transaction_manager = transaction.manager

    def sortKey(self):  # noqa: N802  (the IDataManager interface)
        return "~gatehouse.after-commit"  # last: after the database and the mail queue

    def tpc_finish(self, _transaction):
        hooks, self.hooks = self.hooks, []
        for hook in hooks:
            try:
                hook()
            except Exception:  # the change is committed: a hook (metrics) must not turn it into an error
                logger.exception("after-commit hook failed")

    def abort(self, _transaction):
        self.hooks = []

    tpc_abort = abort

    def tpc_begin(self, _transaction):
        pass

    def commit(self, _transaction):
        pass

    def tpc_vote(self, _transaction):
        pass


class SqlTransactions(ports.Transactions):
    """`Transactions` on the zope transaction manager and the Flask-SQLAlchemy session (see the module doc). Bind as
    singleton; use inside an app context."""

    @inject
    def __init__(self, mail: MailQueue):
        self.outbox = MailOutbox(mail)

    def run(self, work, name=None):
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
            connection = db.session.connection()
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                return work(SqlUnitOfWork(db.session, self.outbox))
            except ports.ConcurrentChange as error:
                failure = error
                raise _Rerun(str(error)) from error
            except Exception as error:
                failure = error
                raise

        attempt.__name__ = name
        _running.name = name
        try:
            return transaction.manager.run(attempt, tries=ATTEMPTS)
        except _Rerun as error:
            raise error.__cause__ from None
        except IntegrityError as error:
            if _EMAIL_TAKEN.search(str(error.orig)):
                raise EmailTaken() from error
            raise
        finally:
            _running.name = None
