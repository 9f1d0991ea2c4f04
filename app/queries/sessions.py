"""The read side of sign-in sessions: a user's live sessions, most recently used first, for the "sessions and
devices" lists (GET /users/me/sessions, GET /users/<id>/sessions). One Core query on the request's read connection,
like app/queries/users.py.
"""
from sqlalchemy import bindparam, select

from app.entities.session import AuthSession
from app.extensions import read_connection

# A list, not pages: the order (last use) moves while a client pages, so a keyset cursor on it would skip or repeat
# sessions. A person has a handful of devices; past this many live sessions the oldest-used are left out.
MAX_LISTED_SESSIONS = 100

_SESSIONS = AuthSession.__table__.c
# Served by the (user_id, revoked_at) index; the user's live sessions are sorted in memory (a few rows).
_LIVE = (select(_SESSIONS.id, _SESSIONS.created_at, _SESSIONS.last_used_at, _SESSIONS.ip_address,
                _SESSIONS.user_agent, _SESSIONS.method, _SESSIONS.acr)
         .where(_SESSIONS.user_id == bindparam("user_id"), _SESSIONS.revoked_at.is_(None),
                _SESSIONS.expires_at > bindparam("now"))
         .order_by(_SESSIONS.last_used_at.desc(), _SESSIONS.id.desc())
         .limit(MAX_LISTED_SESSIONS + 1))


class SessionQueries:
    """Reads of sign-in sessions. Stateless: bind as singleton."""

    def live(self, user_id, now):
        """Up to MAX_LISTED_SESSIONS + 1 sessions of `user_id` neither revoked nor expired at `now` (an aware
        datetime), most recently used first (then newest first): rows with `id`, `created_at`, `last_used_at`,
        `ip_address`, `user_agent`, `method`, `acr`. One more than listed tells the caller the list was cut."""
        return read_connection().execute(_LIVE, {"user_id": user_id, "now": now}).all()
