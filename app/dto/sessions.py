"""Schemas of the sessions-and-devices endpoints (/users/me/sessions, /users/<id>/sessions). Output only."""
from marshmallow import Schema, fields

from app.dto import fields as f
from app.queries.sessions import MAX_LISTED_SESSIONS

FIREFOX_ON_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"


class SessionPublic(Schema):
    """A live sign-in session: where and how it started and was last used. Every field is always sent."""

    id = fields.Integer(required=True, metadata={"example": 42})
    created_at = f.UtcIsoDateTime(required=True, metadata={
        "example": "2026-01-01T12:00:00+00:00", "description": "The sign-in that started it."})
    last_used_at = f.UtcIsoDateTime(required=True, metadata={
        "example": "2026-01-02T08:30:00+00:00",
        "description": "Its last use (a request with one of its access tokens), recorded at most once a minute; "
                       "the sign-in until then."})
    ip_address = fields.String(required=True, allow_none=True, metadata={
        "example": "203.0.113.7", "description": "The client's address at the last recorded use (as the server and "
                                                 "its trusted proxies saw it); null when unknown."})
    user_agent = fields.String(required=True, allow_none=True, metadata={
        "example": FIREFOX_ON_WINDOWS, "description": "The User-Agent header at the last recorded use, as sent; null "
                                                      "when none was."})
    device = fields.String(required=True, allow_none=True, metadata={
        "example": "Firefox 133 on Windows 10",
        "description": "A short summary of `user_agent` (browser and OS, from uap-core's rules); null when it is "
                       "absent or not recognised. What the client claims, not a proof."})
    method = fields.String(required=True, metadata={
        "example": "password", "description": "How the session started: `password`, `social:<provider>` or "
                                              "`passkey`."})
    acr = fields.String(required=True, metadata={
        "example": "aal1", "description": "Authentication context class (RFC 9470): `aal1` (one factor) or `aal2` "
                                          "(two factors, or a passkey)."})
    current = fields.Boolean(required=True, metadata={
        "example": True, "description": "The session of the token making this request (always false with a "
                                        "personal access token)."})

    def get_attribute(self, obj, attr, default):
        return getattr(obj, attr, default)  # ListedSession: plain attributes


class SessionList(Schema):
    """Live sessions, most recently used first; not paged (the order moves with every use)."""

    items = fields.Nested(SessionPublic, many=True, required=True)
    truncated = fields.Boolean(required=True, metadata={
        "example": False, "description": f"More than {MAX_LISTED_SESSIONS} live sessions: the least recently used "
                                         "are not listed (signing out the other sessions ends them too)."})


class SessionsEnded(Schema):
    """What signing out the other sessions did."""

    ended = fields.Integer(required=True, metadata={"example": 2, "description": "How many sessions ended."})


session_list = SessionList()
sessions_ended = SessionsEnded()
