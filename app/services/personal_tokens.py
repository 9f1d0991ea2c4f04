"""Personal access tokens (after GitHub's fine-grained tokens): long-lived bearer tokens a user creates for scripts
and CI jobs, limited to scopes (app/entities/scope.py) and to what the owner may do.

A token is `gatehouse_pat_` + 32 random base62 characters (190 bits) + a 6-character base62 CRC-32 of them, so
secret scanners can recognise leaked ones by the prefix and tell real ones from look-alikes by the checksum, as
GitHub's token format does. It is shown once; only its SHA-256 digest is stored. A token works while it is
unrevoked, unexpired (an expiry is required, at most PAT_MAX_LIFETIME seconds away) and its owner is active. What
signs the owner out everywhere revokes it: deactivation, a removed role, logout-all, a takeover-proof social link,
and, when PAT_REVOKE_ON_PASSWORD_RESET (default), a password reset (the mailed link, or an admin setting it).
"""
import datetime as dt
import secrets
import string
import zlib

from flask import Config
from injector import inject

from app.entities import AuditEventType, Role
from app.entities.personal_access_token import TOKEN_HINT_MAX_LENGTH, PersonalAccessToken
from app.entities.scope import ADMIN_ONLY, GRANTABLE, format_scopes, parse_scopes
from app.entities.types import utcnow
from app.errors import AccountGone, NotFound, ValidationFailed
from app.queries.credentials import CredentialQueries
from app.services.account_mail import AccountMail
from app.services.audit import NO_CLIENT, AuditService
from app.services.ports import Transactions, unit_of_work
from app.services.random_tokens import token_digest

TOKEN_PREFIX = "gatehouse_pat_"  # noqa: S105  (the public prefix of every token)
BASE62 = string.digits + string.ascii_letters
RANDOM_LENGTH = 32  # base62 characters: 32 * log2(62) = 190 bits
CHECKSUM_LENGTH = 6  # base62 characters of a CRC-32 (62**6 > 2**32)
TOKEN_LENGTH = len(TOKEN_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
HINT_LENGTH = len(TOKEN_PREFIX) + 4  # shown in lists: the prefix and the first 4 random characters


class PersonalTokenNotFound(NotFound):
    """No such personal access token of this user (or it was revoked). 404."""

    def __init__(self):
        super().__init__("No such personal access token.")


def _base62(number, length):
    digits = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits))


def _checksum(random_part):
    return _base62(zlib.crc32(random_part.encode()), CHECKSUM_LENGTH)


def new_personal_token():
    """A new token: TOKEN_PREFIX, RANDOM_LENGTH random base62 characters, their CRC-32 in base62."""
    random_part = "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    return TOKEN_PREFIX + random_part + _checksum(random_part)


def looks_like_personal_token(token):
    """True when `token` has the prefix, the length and a matching checksum (no database access): a typo or a
    look-alike is refused before any lookup."""
    if not token.startswith(TOKEN_PREFIX) or len(token) != TOKEN_LENGTH:
        return False
    random_part, checksum = token[len(TOKEN_PREFIX):-CHECKSUM_LENGTH], token[-CHECKSUM_LENGTH:]
    return all(c in BASE62 for c in random_part) and secrets.compare_digest(_checksum(random_part), checksum)


class PersonalTokenService:
    """Creates, lists, verifies and revokes personal access tokens. Stateless apart from settings: singleton.

    Settings: PAT_MAX_LIFETIME (seconds), PAT_MAX_PER_USER (live tokens an account may hold).
    """

    @inject
    def __init__(self, config: Config, transactions: Transactions, queries: CredentialQueries, audit: AuditService,
                 mail: AccountMail):
        self.transactions = transactions
        self.queries = queries
        self.audit = audit
        self.mail = mail
        self.max_lifetime = dt.timedelta(seconds=config["PAT_MAX_LIFETIME"])
        self.max_per_user = config["PAT_MAX_PER_USER"]

    @unit_of_work
    def create(self, uow, user_id, name, scopes, expires_at, client=NO_CLIENT):
        """Create a token for `user_id` named `name` with `scopes` (an iterable of Scope or their names) expiring
        at `expires_at` (an aware datetime). Returns (PersonalAccessToken, the token: a str shown only now).
        Records `personal_access_token.created` and mails the owner.

        Raises ValidationFailed: `expires_at` not in the future or beyond PAT_MAX_LIFETIME, no scopes, a scope no
        token may hold (`credentials`) or one the owner's roles do not allow (`users:write`, `admin` need the admin
        role), PAT_MAX_PER_USER live tokens already; AccountGone when the user was deleted meanwhile.
        """
        user = uow.users.lock(user_id)
        if user is None:
            raise AccountGone()
        now = utcnow()
        scopes = parse_scopes(" ".join(str(scope) for scope in scopes))
        self._check(user, scopes, expires_at, now)
        if uow.credentials.live_personal_tokens(user.id, now) >= self.max_per_user:
            raise ValidationFailed({"name": [f"An account may hold at most {self.max_per_user} live tokens: revoke "
                                             f"one first."]})
        secret = new_personal_token()
        token = PersonalAccessToken(user_id=user.id, name=name, token_digest=token_digest(secret),
                                    hint=secret[:HINT_LENGTH][:TOKEN_HINT_MAX_LENGTH], scope=format_scopes(scopes),
                                    created_at=now, expires_at=expires_at)
        uow.entities.add(token)
        self.audit.record(uow, AuditEventType.PERSONAL_TOKEN_CREATED, user.id, client, token_id=token.id,
                          name=name, scope=token.scope, expires_at=expires_at.isoformat())
        uow.outbox.send(self.mail.token_created(user, name, sorted(token.scope.split()), expires_at, client))
        return token, secret

    def _check(self, user, scopes, expires_at, now):
        errors = {}
        if not scopes:
            errors["scopes"] = ["Give the token at least one scope."]
        elif scopes - GRANTABLE:
            errors["scopes"] = [f"No token may hold {format_scopes(scopes - GRANTABLE)}: it is kept for sign-in "
                                "sessions."]
        elif scopes & ADMIN_ONLY and Role.ADMIN.value not in user.roles:
            errors["scopes"] = [f"{format_scopes(scopes & ADMIN_ONLY)} needs the admin role."]
        if expires_at <= now:
            errors["expires_at"] = ["The expiry must be in the future."]
        elif expires_at > now + self.max_lifetime:
            errors["expires_at"] = [f"The expiry may be at most {self.max_lifetime.days} days away "
                                    "(PAT_MAX_LIFETIME)."]
        if errors:
            raise ValidationFailed(errors)

    def list(self, user_id):
        """The unrevoked tokens of `user_id`, newest first (expired ones too, until purged): rows with the
        PersonalAccessToken columns (never the token; its digest is not shown)."""
        return self.queries.personal_tokens(user_id)

    def get(self, user_id, token_id):
        """The unrevoked token `token_id` of `user_id`. Raises PersonalTokenNotFound."""
        for token in self.queries.personal_tokens(user_id):
            if token.id == token_id:
                return token
        raise PersonalTokenNotFound()

    @unit_of_work
    def revoke(self, uow, user_id, token_id, client=NO_CLIENT, actor_id=None, by_admin=False):
        """Revoke token `token_id` of `user_id` (by its owner, or `by_admin` through the admin routes: `actor_id` the
        admin, None for a service account); it stops working at once.
        Records `personal_access_token.revoked`. Raises PersonalTokenNotFound (also when already revoked)."""
        if uow.users.lock(user_id) is None:
            raise PersonalTokenNotFound()
        token = uow.credentials.personal_token(token_id)
        if token is None or token.user_id != user_id or token.is_revoked:
            raise PersonalTokenNotFound()
        token.revoke("revoked_by_admin" if by_admin else "revoked")
        self.audit.record(uow, AuditEventType.PERSONAL_TOKEN_REVOKED, user_id, client, actor_id=actor_id,
                          token_id=token.id, reason=token.revoke_reason)

    def verify(self, token, now=None):
        """The PersonalTokenUse of `token` when it is a live token (well-formed, known, unrevoked, unexpired) of an
        active user, else None. One query, none for a malformed token."""
        if not looks_like_personal_token(token):
            return None
        use = self.queries.personal_token_use(token_digest(token))
        if use is None or use.expires_at <= (now or utcnow()) or not use.user.is_active:
            return None
        return use

    def purge_expired(self, now=None):
        """Delete tokens that expired before `now` (default: now). Returns how many."""
        return self.transactions.run(
            lambda uow: uow.credentials.purge_expired_personal_tokens(now or utcnow()), "PersonalTokenService.purge")
