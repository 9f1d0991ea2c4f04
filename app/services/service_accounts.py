"""Service accounts and the OAuth 2.0 client credentials grant (RFC 6749 section 4.4): machine clients without a
user, registered by an admin, that trade their client id and secret for short-lived access tokens.

- **Registration** (`register`, admins): a `client_id` ("sa_" + 16 hex characters, public) and a first secret,
  `gatehouse_cs_` + 43 base64url characters (256 random bits), shown once and stored as its SHA-256 digest with a
  16-character hint (the prefix and the first 3 random characters). Its scopes are a non-empty subset of
  SERVICE_ACCOUNT_SCOPES (`users:read`, `users:write`, `admin`): the `profile:*` scopes speak of the caller's own
  account and `credentials` of a signed-in person, and a service account is neither.
- **Rotation without downtime**: an account holds at most MAX_LIVE_SECRETS (2) secrets and either one works. Add a
  second (`add_secret`), deploy it, delete the old one (`delete_secret`).
- **The grant** (`issue_token`): the client authenticates with its id and one of its secrets (RFC 6749 section
  2.3.1; compared as digests in constant time against every live secret) and gets a TokenResponse without a refresh
  token (RFC 6749 section 4.4.3) whose access token is an itsdangerous URLSafeTimedSerializer token (SECRET_KEY, its
  own salt) naming the account and the scopes granted, valid ACCESS_TOKEN_TTL seconds. A wrong secret or an unknown
  client is audited (`client_credentials.failed`) and answered InvalidClient.
- **Verification** (`verify`, for app/services/bearer.py): signature and age first (no database), then one query, so
  a deleted account's tokens stop at once and a scope taken from the account stops at once too.

Deleting a secret stops it from obtaining tokens; the access tokens it already obtained work until they expire (at
most ACCESS_TOKEN_TTL seconds). Deleting the account stops them all at once.
"""
import re
import secrets
from dataclasses import dataclass

from flask import Config
from injector import inject
from itsdangerous import BadData, URLSafeTimedSerializer

from app.entities import AuditEventType, Role
from app.entities.scope import ADMIN_ONLY, SERVICE_ACCOUNT_SCOPES, format_scopes, parse_scopes
from app.entities.service_account import MAX_LIVE_SECRETS, ServiceAccount, ServiceAccountSecret
from app.entities.types import utcnow
from app.errors import DomainError, NotFound, ValidationFailed
from app.queries.credentials import CredentialQueries
from app.services.audit import NO_CLIENT, AuditService
from app.services.ports import Transactions, raise_refusal, unit_of_work
from app.services.random_tokens import TOKEN_BYTES, token_digest
from app.services.tokens import TokenResponse

SERVICE_ACCOUNT_TOKEN_SALT = "gatehouse.service-account-token.v1"  # noqa: S105  (a salt, public by design)
CLIENT_ID_PREFIX = "sa_"
CLIENT_ID_RANDOM_BYTES = 8  # 16 hex characters
SECRET_PREFIX = "gatehouse_cs_"  # noqa: S105  (the public prefix of every client secret, for secret scanners)
SECRET_HINT_LENGTH = len(SECRET_PREFIX) + 3  # 16 characters: the prefix and the first 3 random characters


@dataclass(frozen=True, slots=True)
class ServicePrincipal:
    """Who a service account's access token speaks for: the account (`account_id`, `client_id`) and the scopes
    its token carries. Stands in for a user in controllers: `id` is None (no user), `roles` are what the scopes
    need ("admin" with `users:write` or `admin`), `mfa_enabled` is moot."""

    account_id: int
    client_id: str
    scopes: frozenset
    roles: tuple = ()
    id = None
    is_service_account = True


@dataclass(frozen=True)
class ClientCredentialsToken(TokenResponse):
    """The token response of the client credentials grant (RFC 6749 sections 4.4.3 and 5.1): no `refresh_token`,
    and `scope`, the scopes granted (RFC 6749 section 3.3 form: space-separated)."""

    scope: str = ""


class ServiceAccountNotFound(NotFound):
    """No service account has this id. 404."""

    slug = "service-account-not-found"
    title = "Service account not found"

    def __init__(self, account_id):
        super().__init__(f"No service account has id {account_id}.")


class ClientSecretNotFound(NotFound):
    """The service account has no secret with this id. 404."""

    slug = "client-secret-not-found"
    title = "Client secret not found"

    def __init__(self, account_id, secret_id):
        super().__init__(f"Service account {account_id} has no client secret with id {secret_id}.")


class TooManySecrets(DomainError):
    """The service account already holds MAX_LIVE_SECRETS secrets: delete one before adding another. 409."""

    status = 409
    slug = "too-many-client-secrets"
    title = "Too many client secrets"

    def __init__(self):
        super().__init__(f"A service account holds at most {MAX_LIVE_SECRETS} client secrets: delete the old one "
                         "(DELETE /api/v1/service-accounts/{id}/secrets/{secret_id}) before adding another.")


class InvalidClient(DomainError):
    """Client authentication failed: an unknown client id or a wrong secret, deliberately alike (RFC 6749 section
    5.2 `invalid_client`). 401. The token endpoint answers it as an RFC 6749 error, not a problem."""

    status = 401
    slug = "invalid-client"
    title = "Invalid client"
    headers = {"WWW-Authenticate": 'Basic realm="gatehouse"'}

    def __init__(self):
        super().__init__("Client authentication failed: unknown client or wrong client secret.")


class InvalidScopeRequested(DomainError):
    """A requested scope is unknown, malformed, or not one the service account holds (RFC 6749 section 5.2
    `invalid_scope`). 400."""

    status = 400
    slug = "invalid-scope"
    title = "Invalid scope"


def new_client_id():
    """A new client id: CLIENT_ID_PREFIX and 16 random hex characters (64 bits; unique, not secret)."""
    return CLIENT_ID_PREFIX + secrets.token_hex(CLIENT_ID_RANDOM_BYTES)


def new_client_secret():
    """A new client secret: SECRET_PREFIX and 43 base64url characters (TOKEN_BYTES = 32 random bytes, 256 bits).
    Base64url has no character that form-urlencoding changes, so HTTP Basic clients that skip RFC 6749 section
    2.3.1's encoding (requests' HTTPBasicAuth) still send it right."""
    return SECRET_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def account_view(account, secrets_):
    """A service account as the read side shows it (CredentialQueries.service_account): a dict of its columns and
    `secrets`, each secret a dict of `id`, `hint`, `created_at`, `last_used_at` (never the digest)."""
    return {"id": account.id, "client_id": account.client_id, "name": account.name, "scope": account.scope,
            "created_by": account.created_by, "created_at": account.created_at,
            "secrets": [secret_view(secret) for secret in secrets_]}


def secret_view(secret):
    """A client secret as dict of `id`, `service_account_id`, `hint`, `created_at`, `last_used_at`."""
    return {"id": secret.id, "service_account_id": secret.service_account_id, "hint": secret.hint,
            "created_at": secret.created_at, "last_used_at": secret.last_used_at}


def roles_for(scopes):
    """The roles a principal holding `scopes` acts with: ("admin",) with `users:write` or `admin`, else
    ("user",)."""
    return (Role.ADMIN.value,) if scopes & ADMIN_ONLY else (Role.USER.value,)


class ServiceAccountService:
    """Service accounts: registration, secrets, the client credentials grant, token verification. Stateless apart
    from settings: singleton.

    Settings: SECRET_KEY (signs the access tokens), ACCESS_TOKEN_TTL (their lifetime, seconds).
    """

    @inject
    def __init__(self, config: Config, transactions: Transactions, queries: CredentialQueries, audit: AuditService):
        self.transactions = transactions
        self.queries = queries
        self.audit = audit
        self.ttl = config["ACCESS_TOKEN_TTL"]  # seconds
        self._serializer = URLSafeTimedSerializer(config["SECRET_KEY"], salt=SERVICE_ACCOUNT_TOKEN_SALT)

    # --- administration ------------------------------------------------------------------------------------------

    @unit_of_work
    def register(self, uow, actor_id, name, scopes, client=NO_CLIENT):
        """Register a service account named `name` (1 to 100 characters) holding `scopes` (an iterable of Scope or
        their names), created by admin `actor_id` (None for a service account acting). Returns (the account as
        `account_view` shows it, its client id, its first client secret: a str shown only now). Records
        `service_account.created`.

        Raises ValidationFailed naming `scopes`: none, an unknown one, or one outside SERVICE_ACCOUNT_SCOPES.
        """
        scopes = self._checked_scopes(scopes)
        now = utcnow()
        account = ServiceAccount(client_id=new_client_id(), name=name, scope=format_scopes(scopes),
                                 created_by=actor_id, created_at=now)
        uow.entities.add(account)
        secret, client_secret = self._new_secret(uow, account, now)
        self.audit.record(uow, AuditEventType.SERVICE_ACCOUNT_CREATED, None, client, actor_id=actor_id,
                          service_account_id=account.id, client_id=account.client_id, name=name, scope=account.scope)
        return account_view(account, [secret]), account.client_id, client_secret

    @staticmethod
    def _checked_scopes(scopes):
        try:
            scopes = parse_scopes(" ".join(str(scope) for scope in scopes))
        except ValueError as error:
            raise ValidationFailed({"scopes": [f"{str(error).capitalize()}."]}) from None
        if not scopes:
            raise ValidationFailed({"scopes": ["Give the service account at least one scope."]})
        if scopes - SERVICE_ACCOUNT_SCOPES:
            raise ValidationFailed({"scopes": [
                f"A service account may hold only {format_scopes(SERVICE_ACCOUNT_SCOPES)}, not "
                f"{format_scopes(scopes - SERVICE_ACCOUNT_SCOPES)}: it has no account of its own and no person "
                "behind it."]})
        return scopes

    @staticmethod
    def _new_secret(uow, account, now):
        client_secret = new_client_secret()
        secret = ServiceAccountSecret(service_account_id=account.id, secret_digest=token_digest(client_secret),
                                      hint=client_secret[:SECRET_HINT_LENGTH], created_at=now)
        uow.entities.add(secret)
        return secret, client_secret

    def list(self):
        """Every service account, oldest first, as `account_view` shows them (CredentialQueries.service_accounts)."""
        return self.queries.service_accounts()

    def get(self, account_id):
        """Service account `account_id` as `account_view` shows it. Raises ServiceAccountNotFound."""
        account = self.queries.service_account(account_id)
        if account is None:
            raise ServiceAccountNotFound(account_id)
        return account

    @unit_of_work
    def add_secret(self, uow, actor_id, account_id, client=NO_CLIENT):
        """Add a client secret to service account `account_id` (for a rotation: deploy it, then delete the old one).
        Returns (the secret as `secret_view` shows it, the secret: a str shown only now). Records
        `service_account.secret_added` with `actor_id`.

        Raises ServiceAccountNotFound; TooManySecrets (409) when it holds MAX_LIVE_SECRETS already.
        """
        account = self._lock(uow, account_id)
        if len(uow.credentials.service_account_secrets(account.id)) >= MAX_LIVE_SECRETS:
            raise TooManySecrets()
        secret, client_secret = self._new_secret(uow, account, utcnow())
        self.audit.record(uow, AuditEventType.SERVICE_ACCOUNT_SECRET_ADDED, None, client, actor_id=actor_id,
                          service_account_id=account.id, client_id=account.client_id, secret_id=secret.id,
                          hint=secret.hint)
        return secret_view(secret), client_secret

    @unit_of_work
    def delete_secret(self, uow, actor_id, account_id, secret_id, client=NO_CLIENT):
        """Delete client secret `secret_id` of service account `account_id`: it stops obtaining tokens at once (the
        tokens it obtained live out their ACCESS_TOKEN_TTL seconds). Deleting the last one leaves an account that
        cannot authenticate until a secret is added. Records `service_account.secret_deleted` with `actor_id`.

        Raises ServiceAccountNotFound, ClientSecretNotFound.
        """
        account = self._lock(uow, account_id)
        secret = next((s for s in uow.credentials.service_account_secrets(account.id) if s.id == secret_id), None)
        if secret is None:
            raise ClientSecretNotFound(account_id, secret_id)
        uow.entities.delete(secret)
        self.audit.record(uow, AuditEventType.SERVICE_ACCOUNT_SECRET_DELETED, None, client, actor_id=actor_id,
                          service_account_id=account.id, client_id=account.client_id, secret_id=secret_id,
                          hint=secret.hint)

    @unit_of_work
    def delete(self, uow, actor_id, account_id, client=NO_CLIENT):
        """Delete service account `account_id` with its secrets: its access tokens stop working at once (`verify`
        reads the account on every use). Records `service_account.deleted` with `actor_id`.

        Raises ServiceAccountNotFound.
        """
        account = self._lock(uow, account_id)
        client_id, name = account.client_id, account.name
        uow.entities.delete(account)
        self.audit.record(uow, AuditEventType.SERVICE_ACCOUNT_DELETED, None, client, actor_id=actor_id,
                          service_account_id=account_id, client_id=client_id, name=name)

    @staticmethod
    def _lock(uow, account_id):
        account = uow.entities.get(ServiceAccount, account_id, lock=True)
        if account is None:
            raise ServiceAccountNotFound(account_id)
        return account

    # --- the client credentials grant ----------------------------------------------------------------------------

    def issue_token(self, client_id, client_secret, scope=None, client=NO_CLIENT):
        """The client credentials grant (RFC 6749 section 4.4): authenticate `client_id` with `client_secret` (both
        str, as the client sent them, RFC 6749 section 2.3.1) and answer a ClientCredentialsToken: an access token
        valid `ttl` seconds (ACCESS_TOKEN_TTL), `expires_in` in seconds, the `scope` granted, no refresh token
        (section 4.4.3). `scope` (RFC 6749 section 3.3 form; None or empty: every scope of the account) must be
        scopes the account holds; they are granted as asked. Records when the secret used was last used.

        Raises InvalidClient (401) for an unknown client or a secret that is none of the account's live ones, after
        committing a `client_credentials.failed` audit event; InvalidScopeRequested (400) for a scope that is
        unknown, malformed or not the account's (nothing recorded: the client did authenticate).
        """
        digest = token_digest(client_secret)

        def authenticate(uow):
            account = uow.credentials.service_account(client_id)
            if account is None:
                # recorded only when shaped like one: a client that swapped id and secret must not log its secret
                shaped = re.fullmatch(rf"{CLIENT_ID_PREFIX}[0-9a-f]{{{2 * CLIENT_ID_RANDOM_BYTES}}}", client_id)
                return self._refused(uow, client, client_id=client_id if shaped else "(malformed)",
                                     reason="unknown_client")
            used = None
            for secret in uow.credentials.service_account_secrets(account.id):
                # Every live secret is compared, in constant time: either of two works during a rotation.
                if secrets.compare_digest(secret.secret_digest, digest) and used is None:
                    used = secret
            if used is None:
                return self._refused(uow, client, client_id=client_id, service_account_id=account.id,
                                     reason="wrong_secret")
            granted = self._granted(account, scope)
            used.last_used_at = utcnow()
            return account.id, account.client_id, granted

        account_id, client_id, granted = raise_refusal(
            self.transactions.run(authenticate, "ServiceAccountService.issue_token"))
        scope_text = format_scopes(granted)
        token = self._serializer.dumps({"sa": account_id, "cid": client_id, "scope": scope_text})
        return ClientCredentialsToken(access_token=token, expires_in=self.ttl, scope=scope_text)

    def _refused(self, uow, client, **details):
        """Record a failed client authentication in `uow` and return the InvalidClient to answer (raise_refusal)."""
        self.audit.record(uow, AuditEventType.CLIENT_AUTHENTICATION_FAILED, None, client, **details)
        return InvalidClient()

    @staticmethod
    def _granted(account, scope):
        """The scopes to grant `account` for the requested `scope` (RFC 6749 section 3.3): all of its own when none
        is asked for, else exactly those asked for. Raises InvalidScopeRequested."""
        held = account.scopes
        if not scope:
            return held
        try:
            asked = parse_scopes(scope)
        except ValueError as error:
            raise InvalidScopeRequested(f"{str(error).capitalize()}: this service account may ask for "
                                        f"{format_scopes(held)}.") from None
        if asked - held:
            raise InvalidScopeRequested(f"This service account does not hold {format_scopes(asked - held)}; it may "
                                        f"ask for {format_scopes(held)}.")
        return asked

    def verify(self, token):
        """The ServicePrincipal of a live service account access token, or None: a token that is malformed, tampered
        with, older than `ttl` seconds, or whose account was deleted. Signature and age are checked without the
        database, then one query reads the account: its scopes are the token's that the account still holds (a
        frozenset of Scope; possibly empty, then every operation answers 403 `insufficient_scope`)."""
        try:
            claims = self._serializer.loads(token, max_age=self.ttl)
            account_id, client_id, token_scopes = claims["sa"], claims["cid"], parse_scopes(claims["scope"])
        except (BadData, KeyError, TypeError, ValueError, AttributeError):
            return None
        if type(account_id) is not int or not isinstance(client_id, str):
            return None
        found = self.queries.service_account_scope(account_id)
        # The client id too: a deleted account's id may be given again (SQLite reuses the highest rowid).
        if found is None or found[0] != client_id:
            return None
        scopes = token_scopes & parse_scopes(found[1])
        return ServicePrincipal(account_id, client_id, scopes, roles_for(scopes))
