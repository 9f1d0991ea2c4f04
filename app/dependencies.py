"""The injector module: every service binding in one place. Tests swap a binding by passing another module."""
from flask import current_app
from injector import Binder, singleton

from app.services.account_mail import AccountMail
from app.services.audit import AuditService
from app.services.auth import AuthService
from app.services.email_verification import EmailVerificationService, MailingUserEvents
from app.services.events import UserEvents
from app.services.health import HealthService
from app.services.mail import MailQueue
from app.services.one_time_tokens import OneTimeTokenService
from app.services.password_reset import PasswordResetService
from app.services.passwords import PasswordService
from app.services.sessions import SessionService
from app.services.social import IdTokenVerifier, SocialLoginService
from app.services.tokens import AccessTokenService
from app.services.users import UserService

SERVICES = (PasswordService, AccessTokenService, AuditService, SessionService, MailQueue, AccountMail,
            OneTimeTokenService, EmailVerificationService, PasswordResetService, UserService, AuthService,
            IdTokenVerifier, SocialLoginService, HealthService)


def configure(binder: Binder):
    """Bind services as singletons: they are stateless, so one instance per app serves every request cheaply.

    Constructors open no sockets (gunicorn --preload copies singletons into every worker).
    """
    binder.bind(UserEvents, to=MailingUserEvents, scope=singleton)
    for service in SERVICES:
        binder.bind(service, scope=singleton)


def resolve(interface):
    """The current app's instance of `interface`, for code Flask calls outside injected views (Flask-HTTPAuth
    callbacks, CLI commands). The factory stores the injector in `app.extensions["injector"]`."""
    return current_app.extensions["injector"].get(interface)
