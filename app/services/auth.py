"""Password login."""
import transaction
from injector import inject

from app.entities import User
from app.entities.user_row import credentials_by_email
from app.errors import InvalidCredentials
from app.extensions import db, read_connection
from app.services.passwords import PasswordService
from app.services.tokens import AccessTokenService
from app.services.users import normalize_email


class AuthService:
    """Exchanges credentials for access tokens. Stateless: bind as singleton."""

    @inject
    def __init__(self, passwords: PasswordService, tokens: AccessTokenService):
        self.passwords = passwords
        self.tokens = tokens

    def login(self, email, password):
        """Return a TokenResponse for valid credentials of an active account.

        Raises InvalidCredentials, identically and in about the same time, for an unknown email, a wrong password,
        an account without a password, or an inactive account (OWASP Authentication Cheat Sheet). Re-hashes the
        password when the configured argon2 parameters changed since it was hashed.
        """
        user = credentials_by_email(read_connection(), normalize_email(email))
        if user is None:
            self.passwords.verify_dummy(password)
            raise InvalidCredentials()
        if not self.passwords.verify(user.password_hash, password) or not user.is_active:
            raise InvalidCredentials()
        if self.passwords.needs_rehash(user.password_hash):
            new_hash = self.passwords.hash(password)
            with transaction.manager:  # the only write a login makes
                stored = db.session.get(User, user.id, with_for_update=True)
                if stored is not None and stored.password_hash == user.password_hash:  # unchanged since verified
                    stored.password_hash = new_hash
        return self.tokens.issue(user)
