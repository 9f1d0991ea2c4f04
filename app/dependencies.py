"""The injector module: every service binding in one place. Tests swap a binding by passing another module."""
from flask import current_app
from injector import Binder, singleton

from app.services.auth import AuthService
from app.services.events import LoggingUserEvents, UserEvents
from app.services.health import HealthService
from app.services.passwords import PasswordService
from app.services.tokens import AccessTokenService
from app.services.users import UserService


def configure(binder: Binder):
    """Bind services as singletons: they are stateless, so one instance per app serves every request cheaply.

    Constructors open no sockets (gunicorn --preload copies singletons into every worker).
    """
    binder.bind(UserEvents, to=LoggingUserEvents, scope=singleton)
    for service in (PasswordService, AccessTokenService, UserService, AuthService, HealthService):
        binder.bind(service, scope=singleton)


def resolve(interface):
    """The current app's instance of `interface`, for code Flask calls outside injected views (Flask-HTTPAuth
    callbacks, CLI commands). The factory stores the injector in `app.extensions["injector"]`."""
    return current_app.extensions["injector"].get(interface)
