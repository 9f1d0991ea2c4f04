"""/api/v1/users: the caller's own account, the directory, and admin management."""
from flask import Response, url_for
from flask_apispec import MethodResource, doc, marshal_with, use_kwargs
from injector import inject

from app.controllers.docs import BEARER, problems
from app.dto.users import me_update, user_create, user_list, user_list_query, user_public, user_update
from app.entities import Role
from app.extensions import auth
from app.services.users import UserService

ADMIN = Role.ADMIN.value


def no_content():
    """An empty 204 response: no body, so no Content-Type either (RFC 9110 15.3.5)."""
    response = Response(status=204)
    del response.headers["Content-Type"]
    return response


class MeResource(MethodResource):
    """The authenticated caller's own account."""

    @inject
    def __init__(self, users: UserService):
        self.users = users

    @auth.login_required
    @doc(tags=["users"], operationId="getMe", summary="Get your own account", security=BEARER,
         description="The user the bearer token belongs to.")
    @marshal_with(user_public, code=200)
    @problems(401, 503)
    def get(self):
        return auth.current_user()

    @auth.login_required
    @doc(tags=["users"], operationId="updateMe", summary="Change your name or password", security=BEARER,
         description="Changing the password needs `current_password` and invalidates every access token issued "
                     "before: log in again.")
    @use_kwargs(me_update, location="json", required=True)
    @marshal_with(user_public, code=200)
    @problems(400, 401, 413, 415, 503)
    def patch(self, **changes):
        return self.users.update_me(auth.current_user().id, **changes)


class UserCollection(MethodResource):
    """The user directory."""

    @inject
    def __init__(self, users: UserService):
        self.users = users

    @auth.login_required
    @doc(tags=["users"], operationId="listUsers", summary="List users", security=BEARER,
         description="Ordered by id. Pass `next_cursor` from a page as `cursor` to get the next one.")
    @use_kwargs(user_list_query, location="query")
    @marshal_with(user_list, code=200)
    @problems(400, 401, 503)
    def get(self, limit, cursor):
        return self.users.list(limit=limit, cursor=cursor)

    @auth.login_required(role=ADMIN)
    @doc(tags=["users"], operationId="createUser", summary="Create a user (admin)", security=BEARER,
         description="Roles default to `[\"user\"]`. Without `password` the account cannot log in with one.")
    @use_kwargs(user_create, location="json", required=True)
    @marshal_with(user_public, code=201, description="The new user; `Location` names it")
    @problems(400, 401, 403, 409, 413, 415, 503)
    def post(self, **fields):
        user = self.users.create(**fields)
        return user, 201, {"Location": url_for("api.user", user_id=user.id)}


class UserItem(MethodResource):
    """One user."""

    @inject
    def __init__(self, users: UserService):
        self.users = users

    @auth.login_required
    @doc(tags=["users"], operationId="getUser", summary="Get a user", security=BEARER)
    @marshal_with(user_public, code=200)
    @problems(401, 404, 503)
    def get(self, user_id):
        return self.users.get(user_id)

    @auth.login_required(role=ADMIN)
    @doc(tags=["users"], operationId="updateUser", summary="Change a user (admin)", security=BEARER,
         description="A new password or deactivation ends the user's access tokens; role changes apply from the "
                     "user's next request. Admins cannot demote or deactivate themselves (409).")
    @use_kwargs(user_update, location="json", required=True)
    @marshal_with(user_public, code=200)
    @problems(400, 401, 403, 404, 409, 413, 415, 503)
    def patch(self, user_id, **changes):
        return self.users.update(auth.current_user().id, user_id, **changes)

    @auth.login_required(role=ADMIN)
    @doc(tags=["users"], operationId="deleteUser", summary="Delete a user (admin)", security=BEARER,
         description="Admins cannot delete themselves (409).")
    @marshal_with(None, code=204, description="Deleted")
    @problems(401, 403, 404, 409, 503)
    def delete(self, user_id):
        self.users.delete(auth.current_user().id, user_id)
        return no_content()


RESOURCES = [
    ("/users/me", MeResource, "me"),
    ("/users", UserCollection, "users"),
    ("/users/<int:user_id>", UserItem, "user"),
]
