"""/api/v1/auth: registration and password login."""
from flask import url_for
from flask_apispec import doc, marshal_with, use_kwargs
from injector import inject

from app.controllers.docs import problems
from app.controllers.resource import ApiResource
from app.dto.auth import login_request, register_request, token_response
from app.dto.users import user_public
from app.services.auth import AuthService
from app.services.users import UserService

# RFC 6749 5.1: token responses must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class RegisterResource(ApiResource):
    """Self-service sign-up."""

    @inject
    def __init__(self, users: UserService):
        self.users = users

    @doc(tags=["auth"], operationId="register", summary="Create an account",
         description="Creates an active account with the `user` role. The email is compared case-insensitively.")
    @use_kwargs(register_request, location="json", required=True)
    @marshal_with(user_public, code=201, description="The new user; `Location` names it")
    @problems(400, 409, 413, 415, 503)
    def post(self, email, name, password):
        user = self.users.register(email=email, name=name, password=password)
        return user, 201, {"Location": url_for("api.user", user_id=user.id)}


class LoginResource(ApiResource):
    """Password login."""

    @inject
    def __init__(self, auth: AuthService):
        self.auth = auth

    @doc(tags=["auth"], operationId="login", summary="Exchange email and password for an access token",
         description="Answers an RFC 6749 token response. Unknown email, wrong password and inactive account "
                     "all answer the same 401, in about the same time.")
    @use_kwargs(login_request, location="json", required=True)
    @marshal_with(token_response, code=200, description="Token response; `expires_in` is in seconds")
    @problems(400, 401, 413, 415, 503)
    def post(self, email, password):
        return self.auth.login(email, password), 200, NO_STORE


RESOURCES = [
    ("/auth/register", RegisterResource, "register"),
    ("/auth/login", LoginResource, "login"),
]
