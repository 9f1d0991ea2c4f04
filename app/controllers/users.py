"""/api/v1/users: the caller's own account, the directory, and admin management."""
from flask import url_for
from flask_apispec import doc, marshal_with, use_kwargs
from injector import inject

from app.controllers.conditional import etag_headers, if_match_versions
from app.controllers.docs import (
    ETAG_HEADER,
    IF_MATCH,
    IF_NONE_MATCH,
    LINK_HEADER,
    LOCATION_HEADER,
    NOT_MODIFIED,
    no_content_response,
    problems,
)
from app.controllers.rate_limits import bearer_user_key, rate_limited
from app.controllers.resource import ApiResource, next_page_link, no_content
from app.controllers.security import allowed_before_mfa_enrolment, client_info, current_session_id, requires
from app.dto.users import me_update, user_create, user_list, user_list_query, user_public, user_update
from app.entities import Role
from app.entities.scope import Scope
from app.errors import InsufficientScope
from app.extensions import auth
from app.services.step_up import StepUpService
from app.services.users import UserService

ADMIN = Role.ADMIN.value
# Admin changes that move what an account can do or where its recovery mail goes: they need a step-up.
SENSITIVE_CHANGES = frozenset({"email", "password", "roles", "is_active"})
STEP_UP = ("needs a recent authentication (at most STEP_UP_MAX_AGE seconds old, two-factor when your account has a "
           "second factor): otherwise 401 `insufficient_user_authentication` (RFC 9470) with the `acr_values` and "
           "`max_age` to meet; re-authenticate with POST /auth/reauthenticate and retry")
USER_RESPONSE = {200: {"description": "The user", "headers": ETAG_HEADER}}


def created(user):
    """201 with the user, its Location and its ETag."""
    return user, 201, {"Location": url_for("api.user", user_id=user.id), **etag_headers(user)}


class MeResource(ApiResource):
    """The authenticated caller's own account."""

    @inject
    def __init__(self, users: UserService, step_up: StepUpService):
        self.users = users
        self.step_up = step_up

    @allowed_before_mfa_enrolment
    @requires(Scope.PROFILE_READ)
    @doc(tags=["users"], operationId="getMe", summary="Get your own account",
         description="The user the bearer token belongs to. Supports If-None-Match.",
         params={"If-None-Match": IF_NONE_MATCH}, responses={**USER_RESPONSE, **NOT_MODIFIED})
    @marshal_with(user_public, code=200)
    @problems(503)
    def get(self):
        user = auth.current_user()
        return user, 200, etag_headers(user)

    @rate_limited(bearer_user_key, failures_only=True)  # a wrong current_password is a password guess
    @requires(Scope.PROFILE_WRITE)
    @doc(tags=["users"], operationId="updateMe", summary="Change your name, password or sign-in alerts",
         description="`sign_in_alerts`: mail me when a sign-in comes from a new device (browser, OS and network "
                     "none of my sessions of the last SESSION_MAX_LIFETIME seconds came from); turning them off "
                     "needs a sign-in session (403 `insufficient_scope` `credentials` for a token). "
                     "Changing the password needs `current_password` and ends every session (this one too): "
                     "log in again. A wrong `current_password` is audited and counts against the account's rate "
                     "limit, like a failed login. Changing the password " + STEP_UP + ". Honours If-Match.",
         params={"If-Match": IF_MATCH}, responses=USER_RESPONSE)
    @use_kwargs(me_update, location="json", required=True)
    @marshal_with(user_public, code=200)
    @problems(400, 412, 413, 415, 428, 429, 503)
    def patch(self, **changes):
        if changes.get("password") is not None:
            self.step_up.require(auth.current_user(), current_session_id())
        if changes.get("sign_in_alerts") is False and current_session_id() is None:
            # a leaked token must not silence the alerts that would reveal its thief's sign-ins
            raise InsufficientScope(str(Scope.CREDENTIALS))
        user = self.users.update_me(auth.current_user().id, expected_versions=if_match_versions(),
                                    client=client_info(), **changes)
        return user, 200, etag_headers(user)


class UserCollection(ApiResource):
    """The user directory."""

    @inject
    def __init__(self, users: UserService, step_up: StepUpService):
        self.users = users
        self.step_up = step_up

    @requires(Scope.USERS_READ)
    @doc(tags=["users"], operationId="listUsers", summary="List and search users",
         description="Keyset pagination: pass `next_cursor` of a page as `cursor` (with the same filters and sort) "
                     "for the next one; the `Link` header carries that URL too. Filters combine with AND.",
         responses={200: {"description": "A page of users", "headers": LINK_HEADER}})
    @use_kwargs(user_list_query, location="query")
    @marshal_with(user_list, code=200)
    @problems(400, 503)
    def get(self, **query):
        page = self.users.list(**query)
        return page, 200, next_page_link("api.users", page, query)

    @requires(Scope.USERS_WRITE, role=ADMIN)
    @doc(tags=["users"], operationId="createUser", summary="Create a user (admin)",
         description="Roles default to `[\"user\"]`. Without `password` the account cannot log in with one. "
                     "Setting `password` or `roles` " + STEP_UP + ": a token that is not a sign-in session (a "
                     "personal access token, a service account) gets 403 `insufficient_scope` `credentials`, so it "
                     "cannot mint accounts that sign in or hold roles.",
         responses={201: {"description": "The new user", "headers": {**LOCATION_HEADER, **ETAG_HEADER}}})
    @use_kwargs(user_create, location="json", required=True)
    @marshal_with(user_public, code=201)
    @problems(400, 409, 413, 415, 503)
    def post(self, **fields):
        if {"password", "roles"} & fields.keys():
            self.step_up.require(auth.current_user(), current_session_id())
        return created(self.users.create(actor_id=auth.current_user().id, client=client_info(), **fields))


class UserItem(ApiResource):
    """One user."""

    @inject
    def __init__(self, users: UserService, step_up: StepUpService):
        self.users = users
        self.step_up = step_up

    @requires(Scope.USERS_READ)
    @doc(tags=["users"], operationId="getUser", summary="Get a user",
         description="Supports If-None-Match.",
         params={"If-None-Match": IF_NONE_MATCH}, responses={**USER_RESPONSE, **NOT_MODIFIED})
    @marshal_with(user_public, code=200)
    @problems(404, 503)
    def get(self, user_id):
        user = self.users.get(user_id)
        return user, 200, etag_headers(user)

    @requires(Scope.USERS_WRITE, role=ADMIN)
    @doc(tags=["users"], operationId="updateUser", summary="Change a user (admin)",
         description="A new password, deactivation or a removed role ends every session of the user; added roles "
                     "apply from the user's next request. A new email must be verified again. Admins cannot demote "
                     "or deactivate themselves (409). Changing the email, password, roles or activation " + STEP_UP +
                     ". Honours If-Match. Audited.",
         params={"If-Match": IF_MATCH}, responses=USER_RESPONSE)
    @use_kwargs(user_update, location="json", required=True)
    @marshal_with(user_public, code=200)
    @problems(400, 404, 409, 412, 413, 415, 428, 503)
    def patch(self, user_id, **changes):
        if SENSITIVE_CHANGES & changes.keys():
            self.step_up.require(auth.current_user(), current_session_id())
        user = self.users.update(auth.current_user().id, user_id, expected_versions=if_match_versions(),
                                 client=client_info(), **changes)
        return user, 200, etag_headers(user)

    @requires(Scope.USERS_WRITE, Scope.CREDENTIALS, role=ADMIN)
    @doc(tags=["users"], operationId="deleteUser", summary="Delete a user (admin)",
         description="Admins cannot delete themselves (409). Deleting " + STEP_UP + ". Honours If-Match.",
         params={"If-Match": IF_MATCH})
    @no_content_response("Deleted")
    @problems(404, 409, 412, 428, 503)
    def delete(self, user_id):
        self.step_up.require(auth.current_user(), current_session_id())
        self.users.delete(auth.current_user().id, user_id, expected_versions=if_match_versions(), client=client_info())
        return no_content()


RESOURCES = [
    ("/users/me", MeResource, "me"),
    ("/users", UserCollection, "users"),
    # Ids past a signed 64-bit integer cannot exist: 404 from routing, not an overflow in the database driver.
    ("/users/<int(max=9223372036854775807):user_id>", UserItem, "user"),
]
