"""Issuing and redeeming the single-use tokens mailed for email verification and password reset."""
import datetime as dt

import transaction
from sqlalchemy import delete, select

from app.entities import OneTimeToken
from app.entities.types import utcnow
from app.errors import InvalidOneTimeToken
from app.extensions import db
from app.services.random_tokens import new_token, token_digest

_TOKENS = OneTimeToken.__table__.c


class OneTimeTokenService:
    """Single-use, time-limited tokens (see app/entities/one_time_token.py). Stateless: bind as singleton."""

    def issue(self, user, purpose, ttl):
        """Return a new token of `purpose` (a TokenPurpose) for `user`, valid `ttl` seconds, for `user.email`; the
        user's earlier tokens of that purpose stop working. Must run inside `transaction.manager`."""
        # Earlier tokens are found with a plain (non-locking) read and deleted by primary key: a DELETE by
        # (user_id, purpose) that matches nothing, as for every new account, still takes a gap lock on InnoDB, and two
        # concurrent registrations then deadlock on each other's INSERT (seen in tests/system: 1213, a 500).
        earlier = db.session.scalars(select(_TOKENS.id).where(_TOKENS.user_id == user.id,
                                                              _TOKENS.purpose == str(purpose))).all()
        if earlier:
            db.session.execute(delete(OneTimeToken.__table__).where(_TOKENS.id.in_(earlier)))
        token, now = new_token(), utcnow()
        db.session.add(OneTimeToken(user_id=user.id, purpose=str(purpose), token_digest=token_digest(token),
                                    email=user.email, created_at=now, expires_at=now + dt.timedelta(seconds=ttl)))
        return token

    def purge_expired(self, now=None):
        """Delete the tokens that expired before `now` (used ones are deleted when used). Returns how many."""
        with transaction.manager:
            return db.session.execute(delete(OneTimeToken.__table__).where(_TOKENS.expires_at < (now or utcnow())))\
                .rowcount

    def redeem(self, token, purpose):
        """Spend `token` of `purpose` and return its OneTimeToken row (user_id, email). Must run inside
        `transaction.manager`; of two concurrent redemptions only one finds the row. Raises InvalidOneTimeToken for
        an unknown, expired, used or superseded token."""
        found = db.session.scalars(select(OneTimeToken).where(
            _TOKENS.token_digest == token_digest(token), _TOKENS.purpose == str(purpose)).with_for_update()).first()
        if found is None:
            raise InvalidOneTimeToken()
        expired = found.expires_at <= utcnow()
        # Deleted only if still there: a concurrent redemption that deleted it first makes this one fail.
        if db.session.execute(delete(OneTimeToken.__table__).where(_TOKENS.id == found.id)).rowcount != 1 or expired:
            raise InvalidOneTimeToken()
        return found
