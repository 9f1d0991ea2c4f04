"""Issuing and redeeming the single-use tokens mailed for email verification and password reset."""
import datetime as dt

from injector import inject

from app.entities import OneTimeToken
from app.entities.types import utcnow
from app.errors import InvalidOneTimeToken
from app.services.ports import Transactions, unit_of_work
from app.services.random_tokens import new_token, token_digest


class OneTimeTokenService:
    """Single-use, time-limited tokens (see app/entities/one_time_token.py). Stateless: bind as singleton."""

    @inject
    def __init__(self, transactions: Transactions):
        self.transactions = transactions

    def issue(self, uow, user, purpose, ttl):
        """Return a new token of `purpose` (a TokenPurpose) for `user`, valid `ttl` seconds, for `user.email`; the
        user's earlier tokens of that purpose stop working. In unit of work `uow`, which locked `user`."""
        uow.users.require_lock(user.id)
        uow.one_time_tokens.delete_for(user.id, str(purpose))
        token, now = new_token(), utcnow()
        uow.one_time_tokens.add(OneTimeToken(user_id=user.id, purpose=str(purpose), token_digest=token_digest(token),
                                    email=user.email, created_at=now, expires_at=now + dt.timedelta(seconds=ttl)))
        return token

    def purge_expired(self, now=None):
        """Delete the tokens that expired before `now` (used ones are deleted when used). Returns how many."""
        return self._purge_expired(now or utcnow())

    @unit_of_work
    def _purge_expired(self, uow, now):
        return uow.one_time_tokens.purge_expired(now)

    def redeem(self, uow, token, purpose):
        """Spend `token` of `purpose`: lock its user (the unit of work's first lock), delete the token and return
        (its OneTimeToken: user_id, email; the locked User). In unit of work `uow`; of two concurrent redemptions
        only one deletes the token. Raises InvalidOneTimeToken for an unknown, expired, used or superseded token,
        or one whose user is gone."""
        found = uow.one_time_tokens.find(token_digest(token), str(purpose))
        user = None if found is None else uow.users.lock(found.user_id)
        if user is None:
            raise InvalidOneTimeToken()
        # Deleted only if still there: a concurrent redemption, or a newer token's issue, that deleted it first
        # makes this one fail.
        if not uow.one_time_tokens.delete(found.id) or found.expires_at <= utcnow():
            raise InvalidOneTimeToken()
        return found, user
