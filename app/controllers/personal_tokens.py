"""Personal access tokens: the caller's own under /api/v1/users/me/tokens, and any user's for admins under
/api/v1/users/{user_id}/tokens. Creating one shows it once and needs a recent sign-in (step-up, RFC 9470)."""
from flask import url_for
from flask_apispec import doc, marshal_with, use_kwargs
from injector import inject

from app.controllers.auth import NO_STORE
from app.controllers.docs import LOCATION_HEADER, no_content_response, problems
from app.controllers.rate_limits import bearer_user_key, rate_limited
from app.controllers.resource import ApiResource, no_content
from app.controllers.security import client_info, current_session_id, refuse_own_credentials_without_session, requires
from app.dto.personal_tokens import (
    personal_token_create,
    personal_token_created,
    personal_token_list,
    personal_token_public,
)
from app.entities import Role
from app.entities.scope import Scope
from app.extensions import auth
from app.services.personal_tokens import PersonalTokenService
from app.services.step_up import StepUpService
from app.services.users import UserService

TOKENS = {"tags": ["tokens"]}
ADMIN = Role.ADMIN.value
STOPS_AT_ONCE = "It stops working at once (the next request with it answers 401). Audited."


class MyTokenCollection(ApiResource):
    """The caller's personal access tokens."""

    @inject
    def __init__(self, tokens: PersonalTokenService, step_up: StepUpService):
        self.tokens = tokens
        self.step_up = step_up

    @requires(Scope.PROFILE_READ)
    @doc(**TOKENS, operationId="listMyTokens", summary="List your personal access tokens",
         description="Unrevoked tokens, newest first, expired ones too until `flask purge-expired` removes them. "
                     "The token itself is never shown again; `hint` is its first characters.")
    @marshal_with(personal_token_list, code=200, description="Your tokens")
    @problems(503)
    def get(self):
        return {"items": self.tokens.list(auth.current_user().id)}

    @rate_limited(bearer_user_key)
    @requires(Scope.CREDENTIALS)
    @doc(**TOKENS, operationId="createMyToken", summary="Create a personal access token",
         description="For scripts and CI jobs: a bearer token limited to `scopes` and to what your roles allow, "
                     "expiring at `expires_at` (required; at most PAT_MAX_LIFETIME seconds away). The answer "
                     "shows the token once (`Cache-Control: no-store`). It stops working when revoked, when it "
                     "expires, and when your account is deactivated, loses a role, signs out everywhere "
                     "(logout-all) or has its password reset (PAT_REVOKE_ON_PASSWORD_RESET). Needs a recent "
                     "sign-in (STEP_UP_MAX_AGE seconds; two-factor when your account has a second factor): "
                     "otherwise 401 `insufficient_user_authentication` (RFC 9470). A token cannot create "
                     "tokens (403 `insufficient_scope`). Audited, and mailed to you.",
         responses={201: {"headers": LOCATION_HEADER}})
    @use_kwargs(personal_token_create, location="json", required=True)
    @marshal_with(personal_token_created, code=201, description="The new token, shown this once; `Location` "
                                                                "names it")
    @problems(400, 413, 415, 429, 503)
    def post(self, name, scopes, expires_at):
        user = auth.current_user()
        self.step_up.require(user, current_session_id())
        token, secret = self.tokens.create(user.id, name, scopes, expires_at, client_info())
        token.token = secret  # shown this once (PersonalTokenCreated); not a column
        return token, 201, {"Location": url_for("api.my_token", token_id=token.id), **NO_STORE}


class MyTokenItem(ApiResource):
    """One personal access token of the caller."""

    @inject
    def __init__(self, tokens: PersonalTokenService):
        self.tokens = tokens

    @requires(Scope.PROFILE_READ)
    @doc(**TOKENS, operationId="getMyToken", summary="Get one of your personal access tokens",
         description="A revoked token, or another user's, answers 404.")
    @marshal_with(personal_token_public, code=200, description="The token (never its secret)")
    @problems(404, 503)
    def get(self, token_id):
        return self.tokens.get(auth.current_user().id, token_id)

    @requires(Scope.CREDENTIALS)
    @doc(**TOKENS, operationId="revokeMyToken", summary="Revoke one of your personal access tokens",
         description=STOPS_AT_ONCE + " A token already revoked, or another user's, answers 404.")
    @no_content_response("Revoked")
    @problems(404, 503)
    def delete(self, token_id):
        self.tokens.revoke(auth.current_user().id, token_id, client_info())
        return no_content()


class UserTokenCollection(ApiResource):
    """A user's personal access tokens (admins)."""

    @inject
    def __init__(self, tokens: PersonalTokenService, users: UserService):
        self.tokens = tokens
        self.users = users

    @requires(Scope.ADMIN, role=ADMIN)
    @doc(**TOKENS, operationId="listUserTokens", summary="List a user's personal access tokens (admin)",
         description="As GET /users/me/tokens shows them to their owner. An unknown user answers 404.")
    @marshal_with(personal_token_list, code=200, description="The user's tokens")
    @problems(404, 503)
    def get(self, user_id):
        self.users.get(user_id)  # 404 for an unknown user
        return {"items": self.tokens.list(user_id)}


class UserTokenItem(ApiResource):
    """One personal access token of a user (admins)."""

    @inject
    def __init__(self, tokens: PersonalTokenService):
        self.tokens = tokens

    @requires(Scope.ADMIN, role=ADMIN)
    @doc(**TOKENS, operationId="revokeUserToken", summary="Revoke a user's personal access token (admin)",
         description=STOPS_AT_ONCE + " Recorded with you as the actor. An unknown or already revoked token "
                                     "answers 404.")
    @no_content_response("Revoked")
    @problems(404, 503)
    def delete(self, user_id, token_id):
        refuse_own_credentials_without_session(user_id)
        self.tokens.revoke(user_id, token_id, client_info(), actor_id=auth.current_user().id, by_admin=True)
        return no_content()


_ID = "int(max=9223372036854775807)"  # past a signed 64-bit integer no id exists: 404 from routing
RESOURCES = [
    ("/users/me/tokens", MyTokenCollection, "my_tokens"),
    (f"/users/me/tokens/<{_ID}:token_id>", MyTokenItem, "my_token"),
    (f"/users/<{_ID}:user_id>/tokens", UserTokenCollection, "user_tokens"),
    (f"/users/<{_ID}:user_id>/tokens/<{_ID}:token_id>", UserTokenItem, "user_token"),
]
