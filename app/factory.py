"""The application factory: reads like a table of contents."""
import os

import transaction
from flask import Flask

from app import dependencies
from app.commands import register_commands
from app.configs import config_for
from app.controllers import register_blueprints
from app.controllers.parsing import IJsonProvider
from app.entities.types import render_alembic_type
from app.extensions import close_read_connection, db, migrate
from app.http_policies import URL_CONVERTERS, register_http_policies, trust_proxies
from app.injection import create_injector
from app.observability import register_observability
from app.openapi import configure_openapi, register_openapi
from app.problems import register_error_handlers


def create_app(config=None, injector_modules=()):
    """Build a Gatehouse app.

    `config`: a config instance or class from app/configs.py, or an environment name; default `GATEHOUSE_ENV`.
    `injector_modules`: extra injector modules applied after the defaults (tests rebind services with them).
    Raises ConfigurationError when a required setting is missing (production: SECRET_KEY, DATABASE_URL).
    """
    app = Flask(__name__.split(".")[0])
    app.config.from_object(_resolve_config(config))
    app.json = IJsonProvider(app)  # reads I-JSON (RFC 7493); writes members in the order the DTOs declare
    app.url_map.converters.update(URL_CONVERTERS)  # before any route: ids in URLs are ASCII digits
    register_extensions(app)
    configure_openapi(app)
    register_error_handlers(app)
    register_http_policies(app)
    register_transaction_teardown(app)
    register_commands(app)
    injector = create_injector(app, [dependencies.configure, *injector_modules])  # app/injection.py: why here
    register_blueprints(app, injector)  # after the injector: one instance of each resource per app
    register_openapi(app, injector)
    # Logs, request ids, access lines, metrics and /metrics (app/observability/): after the injector, whose audit
    # service the metrics listen to; its hooks put themselves first (before_request) and last (after, teardown).
    register_observability(app)
    trust_proxies(app)  # outermost middleware: every layer below sees the client's address
    return app


def _resolve_config(config):
    if config is None or isinstance(config, str):
        return config_for(config)
    return config() if isinstance(config, type) else config


def register_extensions(app):
    """Bind Flask-SQLAlchemy and Flask-Migrate to `app`; default the mail queue to the instance folder. (Flask-Limiter
    is bound with the resources: see app/controllers/rate_limits.py.)"""
    if not app.config["MAIL_QUEUE_PATH"]:
        app.config["MAIL_QUEUE_PATH"] = os.path.join(app.instance_path, "mail-queue")
    db.init_app(app)
    migrate.init_app(app, db, directory=_migrations_directory(app), render_as_batch=True, compare_type=True,
                     render_item=render_alembic_type)


def _migrations_directory(app):
    return os.path.join(os.path.dirname(app.root_path), "migrations")


def register_transaction_teardown(app):
    """Abort whatever zope transaction a request left open (a session read outside `transaction.manager` opens
    one), so it cannot leak into the next request on this thread; runs before Flask-SQLAlchemy removes the session.
    Return the read connection at the end of each request (and app context), so no read snapshot outlives it."""
    @app.teardown_request
    def abort_transaction(_exc=None):
        transaction.abort()

    app.teardown_request(close_read_connection)
    app.teardown_appcontext(close_read_connection)

