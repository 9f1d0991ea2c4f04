"""The unit-of-work mechanism on SQLAlchemy (app/unit_of_work.py): bounded retries of lost lock races, decided by
zope.sqlalchemy's retryable-error support; one lock order, enforced; SQLite's write lock taken at the start; user ids
never reused."""
import sqlite3
import threading
import time

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from zope.sqlalchemy.datamanager import SessionDataManager

from app.dependencies import resolve
from app.entities import User
from app.extensions import db
from app.services.ports import ConcurrentChange, LockOrderViolation, Transactions
from app.services.sessions import SessionService
from app.unit_of_work import ATTEMPTS, MYSQL_DEADLOCK, MYSQL_LOCK_WAIT_TIMEOUT, retry_reason
from tests.support import ApiClient

mysql_errors = pytest.importorskip("mysql.connector.errors")


def _mysql_error(errno, cls=OperationalError):
    return cls("UPDATE ...", {}, mysql_errors.get_mysql_exception(errno, "lost a race", "40001"))


def run(work, name=None):
    """Run `work(uow)` as one unit of work of the current app."""
    return resolve(Transactions).run(work, name)


def _sqlite_busy():
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = sqlite3.SQLITE_BUSY
    return OperationalError("BEGIN IMMEDIATE", {}, error)


@pytest.mark.parametrize(("error", "reason"), [
    (_mysql_error(MYSQL_DEADLOCK, DBAPIError), "deadlock"),
    (_mysql_error(MYSQL_LOCK_WAIT_TIMEOUT), "lock_wait_timeout"),
    (_sqlite_busy(), "database_locked"),
    (StaleDataError("UPDATE statement on table 'users' expected to update 1 row(s); 0 were matched."), "stale_data"),
])
def test_zope_sqlalchemy_calls_the_lost_races_retryable(error, reason):
    """The retry decision is zope.sqlalchemy's (SessionDataManager.should_retry over its list of driver errors, which
    app/unit_of_work.py extends): this fails if a zope.sqlalchemy release stops consulting that list."""
    assert SessionDataManager.should_retry(None, error)
    assert retry_reason(error) == reason


@pytest.mark.parametrize("error", [
    _mysql_error(1062, IntegrityError),  # duplicate key: a rule, not a race
    OperationalError("SELECT 1", {}, sqlite3.OperationalError("no such table: users")),
    ValueError("a bug"),
])
def test_other_errors_are_not_retried(error):
    assert not SessionDataManager.should_retry(None, error)
    assert retry_reason(error) is None


def test_a_unit_of_work_that_loses_a_race_runs_again_on_fresh_state_and_is_counted(app, users):
    user = users.create(email="r@example.com", name="Before")
    calls = []

    def rename(uow):
        calls.append(uow.users.lock(user.id).name)
        uow.users.lock(user.id).name = f"After {len(calls)}"
        if len(calls) == 1:
            db.session.flush()  # written, then lost: must not survive
            raise _mysql_error(MYSQL_DEADLOCK)

    with app.app_context():
        run(rename, "test.rename")
        assert calls == ["Before", "Before"]  # the second attempt did not see the first one's write
        assert db.session.get(User, user.id).name == "After 2"
        exposition = app.extensions["gatehouse.metrics"].exposition().decode()
    assert 'gatehouse_transaction_retries_total{reason="deadlock"} 1.0' in exposition


def test_retries_are_bounded_and_the_last_error_propagates(app):
    calls = []

    def always_deadlocked(_uow):
        calls.append(1)
        raise ConcurrentChange("again")

    with app.app_context(), pytest.raises(ConcurrentChange):
        run(always_deadlocked)
    assert len(calls) == ATTEMPTS


def test_a_unit_of_work_cannot_start_inside_another(app):
    with app.app_context(), pytest.raises(RuntimeError, match="inside unit of work"):
        run(lambda _uow: run(lambda _inner: None, "inner"), "outer")


def test_touching_a_users_sessions_without_locking_the_user_first_is_refused(app, users):
    user = users.create(email="s@example.com")
    with app.app_context():
        sessions = resolve(SessionService)
        with pytest.raises(LockOrderViolation):
            run(lambda uow: sessions.end_all(uow, user.id, "test"))
        assert run(lambda uow: uow.users.lock(user.id) and sessions.end_all(uow, user.id, "test")) == 0


def test_two_units_of_work_on_one_account_do_not_lose_an_update(app, users):
    """Read, think, write, in two threads at once: each unit of work's read comes after the other's commit (the row
    lock on MySQL/MariaDB; BEGIN IMMEDIATE on SQLite, which ignores FOR UPDATE), so both increments count."""
    user = users.create(email="w@example.com", name="0")
    start = threading.Barrier(2)

    def increment():
        def work(uow):
            counter = uow.users.lock(user.id)
            value = int(counter.name)
            time.sleep(0.2)  # the other unit of work starts meanwhile
            counter.name = str(value + 1)
        start.wait(5)
        with app.app_context():
            run(work)

    threads = [threading.Thread(target=increment) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert users.get(user.id).name == "2"


def test_user_ids_are_never_reused(app, auth):
    client = ApiClient(app)
    admin_headers = auth.admin()[1]
    first = client.post_json("/api/v1/users", {"email": "one@example.com", "name": "One"},
                             headers=admin_headers).json["id"]
    client.delete(f"/api/v1/users/{first}", headers=admin_headers, status=204)
    second = client.post_json("/api/v1/users", {"email": "two@example.com", "name": "Two"},
                              headers=admin_headers).json["id"]
    assert second > first
    events = client.get(f"/api/v1/audit-events?user_id={second}", headers=admin_headers).json
    assert [event["type"] for event in events["items"]] == ["user.registered"]
