"""The read side of machine credentials: what bearer authentication reads of a personal access token or a service
account (one Core query each, on the request's read connection, like app/queries/users.py), and the lists owners and
admins see.
"""
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, select

from app.entities.personal_access_token import PersonalAccessToken
from app.entities.service_account import ServiceAccount, ServiceAccountSecret
from app.extensions import read_connection
from app.queries.users import USER_COLUMNS, UserRow

_TOKENS = PersonalAccessToken.__table__.c
_ACCOUNTS = ServiceAccount.__table__.c
_SECRETS = ServiceAccountSecret.__table__.c
_USERS = USER_COLUMNS[0].table.c


@dataclass(frozen=True, slots=True)
class PersonalTokenUse:
    """A live personal access token as bearer authentication reads it: its owner (a UserRow) and what decides
    whether to record this use (app/services/activity.py)."""

    user: UserRow
    token_id: int
    scope: str  # RFC 6749 3.3 form
    expires_at: object  # aware datetime
    last_used_at: object  # aware datetime or None
    last_used_from: str | None


# Prepared once (see app/queries/users.py): the owner's columns and the token's, for an unrevoked token.
_TOKEN_USE = (select(*USER_COLUMNS, _TOKENS.id.label("token_id"), _TOKENS.scope, _TOKENS.expires_at,
                     _TOKENS.last_used_at, _TOKENS.last_used_from)
              .join_from(_TOKENS.id.table, _USERS.id.table, _TOKENS.user_id == _USERS.id)
              .where(and_(_TOKENS.token_digest == bindparam("digest"), _TOKENS.revoked_at.is_(None))))
_TOKENS_OF = (select(*PersonalAccessToken.__table__.c)
              .where(and_(_TOKENS.user_id == bindparam("user_id"), _TOKENS.revoked_at.is_(None)))
              .order_by(_TOKENS.id.desc()))
_ACCOUNT_BY_ID = select(_ACCOUNTS.id, _ACCOUNTS.client_id, _ACCOUNTS.scope).where(_ACCOUNTS.id == bindparam("id"))
_ACCOUNTS_ALL = select(*ServiceAccount.__table__.c).order_by(_ACCOUNTS.id)
_SECRETS_OF = (select(_SECRETS.id, _SECRETS.service_account_id, _SECRETS.hint, _SECRETS.created_at,
                      _SECRETS.last_used_at)
               .where(_SECRETS.service_account_id.in_(bindparam("ids", expanding=True))).order_by(_SECRETS.id))


class CredentialQueries:
    """Reads of personal access tokens and service accounts. Stateless: bind as singleton."""

    def personal_token_use(self, digest):
        """The PersonalTokenUse of the unrevoked token with this SHA-256 digest (hex), or None (one query).
        Expiry and the owner's activity are the caller's to check."""
        row = read_connection().execute(_TOKEN_USE, {"digest": digest}).first()
        if row is None:
            return None
        return PersonalTokenUse(UserRow.from_row(row), row.token_id, row.scope, row.expires_at, row.last_used_at,
                                row.last_used_from)

    def personal_tokens(self, user_id):
        """The unrevoked personal access tokens of `user_id` (expired ones too, until purged), newest first: rows
        with the PersonalAccessToken columns."""
        return read_connection().execute(_TOKENS_OF, {"user_id": user_id}).all()

    def service_account_scope(self, account_id):
        """(client_id, scope) of service account `account_id`, or None when it was deleted (one query)."""
        row = read_connection().execute(_ACCOUNT_BY_ID, {"id": account_id}).first()
        return None if row is None else (row.client_id, row.scope)

    def service_accounts(self):
        """Every service account, oldest first, each as a dict of its columns plus `secrets`: its secrets' `id`,
        `hint`, `created_at`, `last_used_at` (never the digest)."""
        accounts = [dict(row._mapping) for row in read_connection().execute(_ACCOUNTS_ALL)]
        return self._with_secrets(accounts)

    def service_account(self, account_id):
        """Service account `account_id` as `service_accounts` shows it, or None."""
        row = read_connection().execute(select(*ServiceAccount.__table__.c).where(
            _ACCOUNTS.id == bindparam("id")), {"id": account_id}).first()
        return None if row is None else self._with_secrets([dict(row._mapping)])[0]

    @staticmethod
    def _with_secrets(accounts):
        by_id = {account["id"]: {**account, "secrets": []} for account in accounts}
        if by_id:
            for row in read_connection().execute(_SECRETS_OF, {"ids": list(by_id)}):
                by_id[row.service_account_id]["secrets"].append(dict(row._mapping))
        return list(by_id.values())
