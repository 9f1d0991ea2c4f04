"""Races that only a real server shows (MySQL/MariaDB): concurrent registrations of one email."""
import threading

import pytest

from tests.support import DEFAULT_PASSWORD, ApiClient

pytestmark = pytest.mark.mysql


@pytest.mark.parametrize("attempt", range(3))
def test_two_concurrent_registrations_of_one_email_give_one_201_and_one_409(app, users, attempt):
    client = ApiClient(app)
    start = threading.Barrier(2)
    statuses = []

    def register():
        start.wait()
        response = client.post_json("/api/v1/auth/register", {"email": "race@example.com", "name": "Race",
                                                               "password": DEFAULT_PASSWORD}, expect_errors=True)
        statuses.append(response.status_int)

    threads = [threading.Thread(target=register) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == [201, 409]
    assert users.count() == 1


def test_concurrent_registrations_of_different_emails_all_succeed(app, users):
    """Each registration issues a verification token; on InnoDB a DELETE of the (absent) earlier tokens took a gap
    lock, and concurrent registrations deadlocked (1213, a 500) — found by tests/system under load."""
    client = ApiClient(app)
    start = threading.Barrier(8)
    statuses = []

    def register(n):
        start.wait()
        for round_ in range(3):
            response = client.post_json("/api/v1/auth/register", {"email": f"r{n}-{round_}@example.com", "name": "R",
                                                                   "password": DEFAULT_PASSWORD}, expect_errors=True)
            statuses.append(response.status_int)

    threads = [threading.Thread(target=register, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [201] * 24
    assert users.count() == 24
