"""Test helpers: a WebTest client that guards against leaked hashes, a user factory, and an auth helper."""
import itertools

from webtest import TestApp

from app.dependencies import resolve
from app.entities import Role
from app.services.users import UserService

DEFAULT_PASSWORD = "correct horse battery"
_sequence = itertools.count(1)


class ApiClient(TestApp):
    """WebTest TestApp for JSON APIs. Every response is checked for argon2 hashes ("$argon2"): none may leak."""

    def do_request(self, req, status=None, expect_errors=None):
        response = super().do_request(req, status=status, expect_errors=expect_errors)
        assert b"$argon2" not in response.body, f"password hash leaked by {req.method} {req.path}"
        return response


class UserFactory:
    """Creates users through UserService (the same path the API takes), outside any request."""

    def __init__(self, app):
        self.app = app

    def create(self, email=None, name="Test User", password=DEFAULT_PASSWORD, roles=(Role.USER.value,),
               is_active=True):
        email = email or f"user{next(_sequence)}@example.com"
        with self.app.app_context():
            user = resolve(UserService).create(email=email, name=name, password=password, roles=roles,
                                               is_active=is_active)
        user.password = password  # the plain password, for logging in from tests
        return user

    def admin(self, **kwargs):
        kwargs.setdefault("roles", (Role.USER.value, Role.ADMIN.value))
        return self.create(**kwargs)

    def get(self, user_id):
        """The user as stored now (None when deleted)."""
        from app.entities import User
        from app.extensions import db
        with self.app.app_context():
            return db.session.get(User, user_id)

    def count(self):
        from sqlalchemy import func, select

        from app.entities import User
        from app.extensions import db
        with self.app.app_context():
            return db.session.scalar(select(func.count()).select_from(User))

    def auth_helper(self, client):
        return AuthHelper(client, self)


class AuthHelper:
    """Logs users in through the API and builds `Authorization` headers."""

    def __init__(self, client, users):
        self.client = client
        self.users = users

    def token(self, user, password=None):
        response = self.client.post_json("/api/v1/auth/login",
                                         {"email": user.email, "password": password or user.password})
        return response.json["access_token"]

    def headers(self, user_or_token):
        token = user_or_token if isinstance(user_or_token, str) else self.token(user_or_token)
        return {"Authorization": f"Bearer {token}"}

    def admin(self):
        """A new admin and its headers."""
        admin = self.users.admin()
        return admin, self.headers(admin)

    def user(self):
        """A new plain user and its headers."""
        user = self.users.create()
        return user, self.headers(user)


class ContractAccounts:
    """The accounts schemathesis authenticates as, restored (active, known password, right roles) on each use."""

    USER_EMAIL = "contract-user@example.com"
    ADMIN_EMAIL = "contract-admin@example.com"

    def __init__(self, app):
        self.app = app

    def token(self, admin=False):
        from app.services.passwords import PasswordService
        from app.services.ports import Transactions
        from app.services.sessions import SessionService

        email = self.ADMIN_EMAIL if admin else self.USER_EMAIL
        roles = [Role.USER.value, Role.ADMIN.value] if admin else [Role.USER.value]
        with self.app.app_context():
            users = resolve(UserService)
            found = users.find_by_email(email)
            if found is None:
                found = users.create(email=email, name="Contract", password=DEFAULT_PASSWORD, roles=roles)

            def sign_in(uow):
                user = uow.users.lock(found.id)
                user.is_active, user.roles = True, roles
                if not resolve(PasswordService).verify(user.password_hash, DEFAULT_PASSWORD):
                    user.password_hash = resolve(PasswordService).hash(DEFAULT_PASSWORD)
                return resolve(SessionService).start(uow, user, "password").access_token
            return resolve(Transactions).run(sign_in)
