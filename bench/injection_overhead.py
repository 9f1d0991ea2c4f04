"""Benchmark: per-request overheads of the framework glue (FlaskInjector, flask-apispec, log hooks), in-process.

Not a test: it prints figures (docs/performance.md, "Per-request overheads"). It builds the app as the factory does
(TestConfig, rate limits off) on a migrated database with one user, and times `GET /api/v1/users/me` with a bearer
token through Flask's test client (WSGI, no network). Each comparison runs two sides that differ in one thing and
alternates them (A B, B A, ...): `--rounds` rounds of `--requests` requests per side; the figure is each side's
best round (the least disturbed by the machine), in µs a request.

- views: FlaskInjector's own wrapping (`flask_injector.wrap_class_based_view`: the injector builds the resource on
  every request) against one resource instance per app built by the injector (app/controllers/__init__.py).
- request scope: FlaskInjector's before/teardown-request hooks (they prepare and clean up its RequestScope) present
  against removed.
- annotations: flask-apispec's Wrapper, resolving and merging a view's `use_kwargs`/`marshal_with` annotations on
  every call, against app/controllers/resource.py's `CachedWrapper`, which does it once per view (one app; the
  Wrapper's methods are swapped in for side A's requests).
- control: two apps built alike, to show what a difference between two apps is worth on this machine.

Then per-call figures (timeit, best of 5): the context-variable lookup behind each access to `flask.g`/`request`,
`uuid.uuid4().hex` against app/observability/logs.py's `new_request_id`, and the log redactor's regex against its
substring pre-test on a line holding no credential.

    .venv/bin/python bench/injection_overhead.py                                    # SQLite, a temporary file
    .venv/bin/python bench/injection_overhead.py --database-url "$TEST_DATABASE_URL"  # MySQL/MariaDB (drops tables)
"""
import argparse
import pathlib
import sys
import time
import timeit
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # the repo root: app/, bench/

import flask  # noqa: E402
import flask_migrate  # noqa: E402
from flask_apispec.wrapper import Wrapper  # noqa: E402
from flask_injector import wrap_class_based_view  # noqa: E402

from app import create_app  # noqa: E402
from app.configs import TestConfig  # noqa: E402
from app.controllers import iter_resources  # noqa: E402
from app.controllers.resource import CachedWrapper  # noqa: E402
from app.dependencies import resolve  # noqa: E402
from app.observability.logs import _CREDENTIAL, Redactor, new_request_id  # noqa: E402
from app.services.users import UserService  # noqa: E402
from bench.seeding import reset_schema, with_database  # noqa: E402

PASSWORD = "benchmark password"  # noqa: S105  (a throwaway account in a throwaway database)
PATH = "/api/v1/users/me"


def make_app(url):
    return create_app(TestConfig(database_url=url, RATELIMIT_ENABLED=False))


def per_request_views(app):
    """FlaskInjector's wrapping: each request has the injector build a new resource."""
    injector = app.extensions["injector"]
    for blueprint, endpoint, resource in iter_resources():
        app.view_functions[f"{blueprint}.{endpoint}"] = wrap_class_based_view(resource.as_view(endpoint), injector)
    return app


def per_app_views(app):
    """One resource instance per app, built by the injector once, serving every request."""
    injector = app.extensions["injector"]
    for blueprint, endpoint, resource in iter_resources():
        instance = injector.create_object(resource)

        def view(instance=instance, **kwargs):
            return instance.dispatch_request(**kwargs)

        view.view_class = resource
        app.view_functions[f"{blueprint}.{endpoint}"] = view
    return app


def is_scope_hook(function):
    return "FlaskInjector.__init__" in getattr(function, "__qualname__", "")


def scope_hooks(app):
    return [f for funcs in (*app.before_request_funcs.values(), *app.teardown_request_funcs.values())
            for f in funcs if is_scope_hook(f)]


def without_scope_hooks(app):
    """Remove FlaskInjector's request-scope hooks (before_request prepare, teardown_request cleanup)."""
    for table in (app.before_request_funcs, app.teardown_request_funcs):
        for key, funcs in table.items():
            table[key] = [f for f in funcs if not is_scope_hook(f)]
    return app


def with_scope_hooks(app):
    if not scope_hooks(app):
        raise SystemExit("this app has no FlaskInjector request-scope hooks: nothing to compare")
    return app


class ApispecWrapperClient:
    """A test client whose requests run through flask-apispec's own Wrapper methods instead of CachedWrapper's
    (patched on the class, which every app shares, for the duration of each request)."""

    METHODS = ("__call__", "call_view", "marshal_result")
    CACHED = {name: CachedWrapper.__dict__[name] for name in METHODS}

    def __init__(self, client):
        self.client = client

    def get(self, *args, **kwargs):
        for name in self.METHODS:
            setattr(CachedWrapper, name, getattr(Wrapper, name))
        try:
            return self.client.get(*args, **kwargs)
        finally:
            for name, method in self.CACHED.items():
                setattr(CachedWrapper, name, method)


def best_round(clients, headers, rounds, requests):
    """Alternate the clients, `rounds` x `requests` each; the best round of each, µs a request."""
    best = [float("inf")] * len(clients)
    for number in range(rounds):
        order = range(len(clients)) if number % 2 == 0 else reversed(range(len(clients)))  # A B, B A, A B, ...
        for i in order:
            client = clients[i]
            started = time.perf_counter()
            for _ in range(requests):
                response = client.get(PATH, headers=headers)
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, response.status_code
            best[i] = min(best[i], elapsed / requests * 1e6)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    with_database(args, run, "injection")


def run(args, url):
    reset_schema(url)
    app = make_app(url)
    with app.app_context():
        flask_migrate.upgrade()
        resolve(UserService).create(email="me@example.com", name="Me", password=PASSWORD)
    login = app.test_client().post("/api/v1/auth/login", json={"email": "me@example.com", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {login.get_json()['access_token']}"}

    bare = without_scope_hooks(per_app_views(make_app(url)))  # per-app views, no scope hooks
    comparisons = {  # name: (client A, client B)
        "views: FlaskInjector's (per request) vs one instance per app": (
            per_request_views(make_app(url)).test_client(), per_app_views(make_app(url)).test_client()),
        "request scope hooks: present vs removed (per-app views)": (
            with_scope_hooks(per_app_views(make_app(url))).test_client(), bare.test_client()),
        "annotations: flask-apispec's Wrapper vs CachedWrapper": (
            ApispecWrapperClient(bare.test_client()), bare.test_client()),
        "control: two identical apps (per-app views, no scope hooks)": (
            without_scope_hooks(per_app_views(make_app(url))).test_client(), bare.test_client()),
    }
    print(f"database: {url.split('://')[0]}; GET {PATH}, {args.rounds} alternating rounds of {args.requests} "
          "requests per side; best round, µs a request")
    print(f"{'comparison':62} {'A':>8} {'B':>8} {'A - B':>8}")
    for name, clients in comparisons.items():
        best_round(clients, headers, 1, 100)  # warm-up
        a, b = best_round(clients, headers, args.rounds, args.requests)
        print(f"{name:62} {a:8.1f} {b:8.1f} {a - b:+8.1f}  ({(a - b) / a:+.1%})")
    print_per_call(app)


def per_call(statement, number=100_000):
    """Best of 5 runs of `number` calls, µs a call."""
    return min(timeit.repeat(statement, number=number, repeat=5)) / number * 1e6


def print_per_call(app):
    redactor = Redactor()
    line = ('{"timestamp": "2026-01-01T00:00:00.000Z", "level": "INFO", "logger": "gatehouse.access", '
            '"message": "GET /api/v1/users/me 200", "request_id": "0123456789abcdef0123456789abcdef"}')
    with app.test_request_context("/"):
        flask.g.value = 1
        figures = {
            "flask.g attribute read (a context-variable lookup)": per_call(lambda: flask.g.value),
            "the same through g._get_current_object() resolved once": per_call(
                (lambda state: lambda: state.value)(flask.g._get_current_object())),
            "uuid.uuid4().hex": per_call(lambda: uuid.uuid4().hex),
            "new_request_id() (app/observability/logs.py)": per_call(new_request_id),
            "credential regex on a line without credentials": per_call(lambda: _CREDENTIAL.search(line)),
            "Redactor() on the same line (substring pre-test first)": per_call(lambda: redactor(line)),
        }
    print("\nper call (timeit, best of 5), µs")
    for name, figure in figures.items():
        print(f"{name:62} {figure:8.2f}")


if __name__ == "__main__":
    main()
