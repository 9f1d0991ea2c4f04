"""Sessions and devices (after Google's and Keycloak's account consoles): the caller's live sign-in sessions under
/api/v1/users/me/sessions (list, end one, sign out the others), and any user's for admins under
/api/v1/users/<id>/sessions."""
from flask_apispec import doc, marshal_with
from injector import inject

from app.controllers.docs import no_content_response, problems
from app.controllers.resource import ApiResource, no_content
from app.controllers.security import (
    allowed_before_mfa_enrolment,
    client_info,
    current_session_id,
    refuse_own_credentials_without_session,
    requires,
)
from app.dto.sessions import session_list, sessions_ended
from app.entities import Role
from app.entities.scope import Scope
from app.extensions import auth
from app.queries.sessions import MAX_LISTED_SESSIONS
from app.services.sessions import SessionService

ADMIN = Role.ADMIN.value
USERS = {"tags": ["users"]}
LISTED = (f"Live sessions (neither ended nor expired), most recently used first, at most {MAX_LISTED_SESSIONS} "
          "(`truncated` says when there are more): not paged, since the order moves with every use. Each shows "
          "when it started and was last used (recorded at most once a minute), the address and User-Agent of its "
          "last recorded use, a `device` summary of that User-Agent, how it started (`method`) and how strongly "
          "(`acr`).")
ENDS = ("Its access and refresh tokens stop working at once, as after logout. An unknown session, another user's, "
        "or one already ended or expired answers 404.")
# Ids past a signed 64-bit integer cannot exist: 404 from routing, not an overflow in the database driver.
ID = "int(max=9223372036854775807)"


class MySessionCollection(ApiResource):
    """The caller's live sessions."""

    @inject
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @allowed_before_mfa_enrolment  # REQUIRE_MFA_FOR_ADMINS: seeing where one is signed in, as logout is allowed
    @requires(Scope.PROFILE_READ)
    @doc(**USERS, operationId="listMySessions", summary="List your sessions and devices",
         description=LISTED + " `current` marks the session of the token making the request (none with a "
                              "personal access token).")
    @marshal_with(session_list, code=200, description="Your live sessions")
    @problems(503)
    def get(self):
        return self.sessions.list(auth.current_user().id, current_session_id())


class MySessionItem(ApiResource):
    """One session of the caller."""

    @inject
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @allowed_before_mfa_enrolment
    @requires(Scope.CREDENTIALS)
    @doc(**USERS, operationId="endMySession", summary="End one of your sessions",
         description="Signs that device out. " + ENDS + " Ending the current session is allowed (it is logout). "
                     "Audited as `logout` (reason `ended_by_user`).")
    @no_content_response("Ended")
    @problems(404, 503)
    def delete(self, session_id):
        self.sessions.end_one(auth.current_user().id, session_id, client_info())
        return no_content()


class SignOutOthersResource(ApiResource):
    """End every other session of the caller."""

    @inject
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @allowed_before_mfa_enrolment
    @requires(Scope.CREDENTIALS)
    @doc(**USERS, operationId="signOutOtherSessions", summary="Sign out your other sessions",
         description="Ends every live session of your account but the one making the request: their access and "
                     "refresh tokens stop working at once. Personal access tokens stay (revoke them one by one, or "
                     "use POST /auth/logout-all). Audited as `logout.all` (reason `signed_out_others`).")
    @marshal_with(sessions_ended, code=200, description="How many sessions ended")
    @problems(503)
    def post(self):
        return {"ended": self.sessions.end_others(auth.current_user().id, current_session_id(), client_info())}


class UserSessionCollection(ApiResource):
    """A user's live sessions (admin)."""

    @inject
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @requires(Scope.ADMIN, role=ADMIN)
    @doc(**USERS, operationId="listUserSessions", summary="List a user's sessions and devices (admin)",
         description=LISTED + " `current` marks your own request's session (when you list your own account). An "
                              "unknown user answers 404.")
    @marshal_with(session_list, code=200, description="The user's live sessions")
    @problems(404, 503)
    def get(self, user_id):
        return self.sessions.list_of_user(user_id, current_session_id())


class UserSessionItem(ApiResource):
    """One session of a user (admin)."""

    @inject
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @requires(Scope.ADMIN, role=ADMIN)
    @doc(**USERS, operationId="endUserSession", summary="End one of a user's sessions (admin)",
         description=ENDS + " An unknown user answers 404 too. Audited as `logout` with you as the actor (reason "
                            "`ended_by_admin`).")
    @no_content_response("Ended")
    @problems(404, 503)
    def delete(self, user_id, session_id):
        refuse_own_credentials_without_session(user_id)
        self.sessions.end_one(user_id, session_id, client_info(), actor_id=auth.current_user().id, by_admin=True)
        return no_content()


RESOURCES = [
    ("/users/me/sessions", MySessionCollection, "my_sessions"),
    ("/users/me/sessions/sign-out-others", SignOutOthersResource, "sign_out_other_sessions"),
    (f"/users/me/sessions/<{ID}:session_id>", MySessionItem, "my_session"),
    (f"/users/<{ID}:user_id>/sessions", UserSessionCollection, "user_sessions"),
    (f"/users/<{ID}:user_id>/sessions/<{ID}:session_id>", UserSessionItem, "user_session"),
]
