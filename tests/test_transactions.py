"""Units of work are all-or-nothing, and no zope transaction outlives its request."""
import threading

import transaction

from app.services.events import UserEvents
from tests.support import DEFAULT_PASSWORD, ApiClient


class FailingEvents(UserEvents):
    """A UserEvents whose external call fails (a mail server down, say)."""

    def user_created(self, uow, user):
        assert user.id is not None  # the row was flushed inside the transaction...
        raise ConnectionError("event sink unreachable")


class RecordingEvents(UserEvents):
    created = []

    def user_created(self, uow, user):
        RecordingEvents.created.append(user.email)


def test_failing_user_events_roll_back_the_registration(make_app, users):
    client = ApiClient(make_app(injector_modules=[lambda b: b.bind(UserEvents, to=FailingEvents)]))
    response = client.post_json("/api/v1/auth/register", {"email": "r@example.com", "name": "R",
                                                           "password": DEFAULT_PASSWORD}, status=500)
    assert response.content_type == "application/problem+json"
    assert users.count() == 0  # ...and none of it was committed


def test_user_events_are_told_about_new_accounts(make_app):
    RecordingEvents.created = []
    client = ApiClient(make_app(injector_modules=[lambda b: b.bind(UserEvents, to=RecordingEvents)]))
    client.post_json("/api/v1/auth/register", {"email": "e@example.com", "name": "E", "password": DEFAULT_PASSWORD})
    assert RecordingEvents.created == ["e@example.com"]


def test_no_transaction_outlives_a_request(client, auth):
    user, headers = auth.user()
    seen = {}

    def request_in_thread():
        client.get("/api/v1/users/me", headers=headers)  # a read outside the manager joins a zope transaction
        seen["resources"] = list(transaction.get()._resources)

    worker = threading.Thread(target=request_in_thread)
    worker.start()
    worker.join()
    assert seen["resources"] == []


def test_requests_sharing_an_app_context_do_not_share_a_read_snapshot(app, client, auth, users):
    """A deactivation committed elsewhere is seen by the next request, even inside one app context (tests, shells,
    scripts): the read connection, and on MySQL its REPEATABLE READ snapshot, ends with each request."""
    from app.dependencies import resolve
    from app.services.users import UserService

    admin = users.admin()
    user, headers = auth.user()
    with app.app_context():
        assert app.test_client().get("/api/v1/users/me", headers=headers).status_code == 200
        outcome = {}

        def deactivate():
            with app.app_context():
                resolve(UserService).update(admin.id, user.id, is_active=False)
                outcome["done"] = True

        worker = threading.Thread(target=deactivate)
        worker.start()
        worker.join()
        assert outcome["done"]
        assert app.test_client().get("/api/v1/users/me", headers=headers).status_code == 401
