"""The app's injector: made by flask-injector's `FlaskInjector`, used as it is except in two places.

`create_injector` makes it: FlaskInjector binds `flask.Flask`, `flask.Config` and `flask.Request`, installs the
modules (app/dependencies.py, then the tests' own), and wraps with injection the views, hooks, error handlers and
Jinja globals that exist when it is created. Where this app departs from that, and why:

1. **Resources are served by one instance per app.** FlaskInjector builds a class-based view with the injector on
   every request (it ignores Flask's `init_every_request = False`), a cost worth avoiding (measured:
   docs/performance.md, "Per-request overheads"). So the factory creates the injector first and registers the
   blueprints afterwards (app/controllers/__init__.py `register_blueprints`): their views serve one instance the
   injector built, and FlaskInjector never sees them.
2. **Jinja's `url_for` and `get_flashed_messages` are put back** (`create_injector`). FlaskInjector wraps them
   because of their type hints, and the wrapped ones fail on Flask 3's annotations (upstream issues #78 and #82,
   open in 0.15.0, the latest release): the Swagger UI template (app/openapi.py) would answer 500.

Its request scope is kept as FlaskInjector installs it (a before_request and a teardown_request hook, which it
installs whatever `request_scope_class` is; removing them would be a workaround for little: same section of
docs/performance.md). Nothing may be bound in it: resources live as long as the app, so a request-scoped
dependency would be shared by every request and thread. Services are singletons (app/dependencies.py).

tests/test_dependency_injection.py fails when flask-injector changes in a way that makes either departure
unneeded or wrong.
"""
import flask
from flask_injector import FlaskInjector
from injector import get_bindings


def create_injector(app, modules):
    """Create `app`'s injector with `modules` (FlaskInjector's own module first); also `app.extensions["injector"]`.

    Call after the hooks, error handlers and template globals are registered (FlaskInjector wraps those that exist)
    and before the blueprints (app/controllers/__init__.py builds their resources once, with this injector)."""
    injector = FlaskInjector(app=app, modules=modules).injector
    # The originals, in place of FlaskInjector's broken wrappers (2. above).
    app.jinja_env.globals.update(url_for=app.url_for, get_flashed_messages=flask.get_flashed_messages)
    app.extensions["injector"] = injector
    return injector


def injected_arguments(injector, function):
    """{parameter name: instance} for the parameters `function` declares with `@inject`, from `injector`: for code
    built once per app that Flask, not the injector, calls (rate-limit key functions, flask-apispec's resources)."""
    return {name: injector.get(interface) for name, interface in get_bindings(function).items()}
