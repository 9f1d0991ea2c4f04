"""The injector module: every service binding in one place. Tests swap a binding by passing another module."""
from flask import current_app
from injector import Binder, singleton

from app.mail import MailQueue, MailSender, QueuedMail
from app.queries.audit import AuditQueries
from app.queries.credentials import CredentialQueries
from app.queries.health import DatabaseProbe
from app.queries.sessions import SessionQueries
from app.queries.users import UserQueries
from app.services.account_mail import AccountMail
from app.services.activity import ActivityService
from app.services.audit import AuditService
from app.services.auth import AuthService
from app.services.bearer import BearerService
from app.services.email_verification import EmailVerificationService, MailingUserEvents
from app.services.events import UserEvents
from app.services.health import HealthService
from app.services.mfa import MfaService
from app.services.one_time_tokens import OneTimeTokenService
from app.services.passkeys import PasskeyService
from app.services.password_reset import PasswordResetService
from app.services.passwords import PasswordService
from app.services.personal_tokens import PersonalTokenService
from app.services.ports import Transactions
from app.services.secret_box import SecretBox
from app.services.service_accounts import ServiceAccountService
from app.services.sessions import SessionService
from app.services.sign_in import SignInService
from app.services.social import IdTokenVerifier, SocialLoginService
from app.services.step_up import StepUpService
from app.services.tokens import AccessTokenService
from app.services.users import UserService
from app.unit_of_work import SqlTransactions

# The read side (app/queries/), and the mail queue (the unit of work writes to it, the mail commands read it).
QUERIES = (UserQueries, AuditQueries, CredentialQueries, SessionQueries, DatabaseProbe, MailQueue, QueuedMail,
           MailSender)
SERVICES = (PasswordService, AccessTokenService, AuditService, SessionService, AccountMail,
            OneTimeTokenService, EmailVerificationService, PasswordResetService, UserService, AuthService,
            IdTokenVerifier, SocialLoginService, HealthService, SecretBox, StepUpService, MfaService, SignInService,
            PasskeyService, ActivityService, PersonalTokenService, ServiceAccountService, BearerService)


def configure(binder: Binder):
    """Bind services as singletons: they are stateless, so one instance per app serves every request cheaply. Use
    cases run their units of work on SQLAlchemy and the zope transaction (`Transactions`: app/unit_of_work.py).

    Constructors open no sockets (gunicorn --preload copies singletons into every worker).
    """
    binder.bind(Transactions, to=SqlTransactions, scope=singleton)
    binder.bind(UserEvents, to=MailingUserEvents, scope=singleton)
    for service in QUERIES + SERVICES:
        binder.bind(service, scope=singleton)


def resolve(interface):
    """The current app's instance of `interface`, for code that runs in an app context but outside a request and
    is not built by the injector: CLI commands (app/commands.py), and tests and benchmarks that call services
    directly. Request-handling code gets its services injected instead (resources through their constructors,
    app/controllers/security.py and rate_limits.py at app creation). The injector is `app.extensions["injector"]`
    (app/injection.py)."""
    return current_app.extensions["injector"].get(interface)
