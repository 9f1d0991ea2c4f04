"""Issuing and redeeming the single-use tokens mailed for email verification and password reset."""
import datetime as dt

from sqlalchemy import delete, select

from app.entities import OneTimeToken
from app.entities.types import utcnow
from app.errors import InvalidOneTimeToken
from app.extensions import db
from app.services.random_tokens import new_token, token_digest
from app.unit_of_work import lock_user, require_user_lock, unit_of_work

_TOKENS = OneTimeToken.__table__.c


class OneTimeTokenService:
    """Single-use, time-limited tokens (see app/entities/one_time_token.py). Stateless: bind as singleton."""

    def issue(self, user, purpose, ttl):
        """Return a new token of `purpose` (a TokenPurpose) for `user`, valid `ttl` seconds, for `user.email`; the
        user's earlier tokens of that purpose stop working. Inside a unit of work that locked `user`."""
        require_user_lock(user.id)
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
        return self._purge_expired(now or utcnow())

    @unit_of_work
    def _purge_expired(self, now):
        return db.session.execute(delete(OneTimeToken.__table__).where(_TOKENS.expires_at < now)).rowcount

    def redeem(self, token, purpose):
        """Spend `token` of `purpose`: lock its user (the unit of work's first lock, app/unit_of_work.py), delete
        the token and return (its OneTimeToken row: user_id, email; the locked User). Inside a unit of work; of two
        concurrent redemptions only one deletes the row. Raises InvalidOneTimeToken for an unknown, expired, used
        or superseded token, or one whose user is gone."""
        found = db.session.scalars(select(OneTimeToken).where(
            _TOKENS.token_digest == token_digest(token), _TOKENS.purpose == str(purpose))).first()
        user = None if found is None else lock_user(found.user_id)
        if user is None:
            raise InvalidOneTimeToken()
        # Deleted only if still there (a locking write sees the latest rows): a concurrent redemption, or a newer
        # token's issue, that deleted it first makes this one fail.
        deleted = db.session.execute(delete(OneTimeToken.__table__).where(_TOKENS.id == found.id)).rowcount
        if deleted != 1 or found.expires_at <= utcnow():
            raise InvalidOneTimeToken()
        return found, user
