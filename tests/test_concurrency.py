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
