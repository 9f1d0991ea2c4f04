"""Password login: credentials in, a new session's token pair out; every attempt is audited."""
from injector import inject

from app.entities import AuditEventType
from app.entities.user import normalize_email
from app.errors import InvalidCredentials
from app.queries.users import UserQueries
from app.services.audit import NO_CLIENT, AuditService
from app.services.passwords import PasswordService
from app.services.ports import Transactions
from app.services.sign_in import SignInService


class AuthService:
    """Exchanges credentials for tokens. Stateless: bind as singleton."""

    @inject
    def __init__(self, transactions: Transactions, queries: UserQueries, passwords: PasswordService,
                 sign_in: SignInService, audit: AuditService):
        self.transactions = transactions
        self.queries = queries
        self.passwords = passwords
        self.sign_in = sign_in
        self.audit = audit

    def login(self, email, password, client=NO_CLIENT):
        """Start a session and return its TokenResponse (access and refresh token) for valid credentials of an
        active account; record `login.succeeded`. For an account with a second factor, raise SecondFactorRequired
        (carrying an MFA token for POST /auth/mfa) instead, after committing the pending sign-in.

        Raises InvalidCredentials, identically and in about the same time, for an unknown email, a wrong password,
        an account without a password, or an inactive account (OWASP Authentication Cheat Sheet), after committing a
        `login.failed` event (user id when the account exists, no email: it may be a mistyped password). Re-hashes
        the password when the configured argon2 parameters changed since it was hashed.
        """
        user = self.queries.credentials_by_email(normalize_email(email))
        if user is None:
            self.passwords.verify_dummy(password)
        elif self.passwords.verify(user.password_hash, password) and user.is_active:
            new_hash = self.passwords.hash(password) if self.passwords.needs_rehash(user.password_hash) else None

            def start_session(uow):
                # The password was checked against a read made before the (slow) verification: the session starts
                # only if the account is still active with that same password, under the row lock a password
                # change, reset or deactivation takes too (which end sessions), so no session outlives one.
                stored = uow.users.lock(user.id)
                if stored is None or not stored.is_active or stored.password_hash != user.password_hash:
                    return None
                if new_hash is not None:
                    stored.password_hash = new_hash
                return self.sign_in.begin(uow, stored, "password", client)

            outcome = self.transactions.run(start_session, "AuthService.login")
            if outcome is not None:
                return self.sign_in.result(outcome)
        self.transactions.run(lambda uow: self.audit.record(
            uow, AuditEventType.LOGIN_FAILED, user.id if user is not None else None, client, method="password"),
            "AuthService.login.failed")
        raise InvalidCredentials()
