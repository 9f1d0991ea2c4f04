"""/api/v1/service-accounts: admins register service accounts (machine clients of the OAuth 2.0 client credentials
grant, RFC 6749 section 4.4, at POST /api/v1/oauth/token), list and delete them, and rotate their client secrets.

Minting a credential (registering an account, adding a secret) needs a signed-in admin with a recent
authentication (step-up, RFC 9470) and the `credentials` scope, which no token but a sign-in session holds, so a
service account cannot mint credentials; reading and deleting need the `admin` scope. A secret is shown once, in
the 201 answer that created it. Every change is audited with the acting admin (a service account acting is named in
the event's `credential`)."""
from flask import url_for
from flask_apispec import doc, marshal_with, use_kwargs
from injector import inject

from app.controllers.docs import LOCATION_HEADER, no_content_response, problems
from app.controllers.resource import ApiResource, no_content
from app.controllers.security import client_info, current_session_id, requires
from app.controllers.users import STEP_UP
from app.dto.service_accounts import (
    client_secret_created,
    service_account_create,
    service_account_created,
    service_account_list,
    service_account_public,
)
from app.entities import Role
from app.entities.scope import Scope
from app.entities.service_account import MAX_LIVE_SECRETS
from app.extensions import auth
from app.services.service_accounts import ServiceAccountService
from app.services.step_up import StepUpService

ADMIN = Role.ADMIN.value
SERVICE_ACCOUNTS = {"tags": ["service-accounts"]}
TAG_DESCRIPTION = ("Service accounts (admins): machine clients without a user that obtain access tokens with the "
                   "OAuth 2.0 client credentials grant (RFC 6749 4.4) at POST /api/v1/oauth/token; their scopes and "
                   "client secrets, rotated without downtime")
SHOWN_ONCE = "The secret is in this answer only: store it now (Gatehouse keeps its SHA-256 digest)."


def _location(account_id):
    return {"Location": url_for("api.service_account", account_id=account_id)}


class ServiceAccountCollection(ApiResource):
    """Every service account."""

    @inject
    def __init__(self, service_accounts: ServiceAccountService, step_up: StepUpService):
        self.service_accounts = service_accounts
        self.step_up = step_up

    @requires(Scope.ADMIN, role=ADMIN)
    @doc(**SERVICE_ACCOUNTS, operationId="listServiceAccounts", summary="List service accounts (admin)",
         description="Oldest first, each with its scopes and its client secrets by id and hint (never a secret or "
                     "its digest), and when each secret last obtained a token.")
    @marshal_with(service_account_list, code=200, description="Every service account")
    @problems(503)
    def get(self):
        return {"items": self.service_accounts.list()}

    @requires(Scope.ADMIN, Scope.CREDENTIALS, role=ADMIN)
    @doc(**SERVICE_ACCOUNTS, operationId="createServiceAccount", summary="Register a service account (admin)",
         description="Answers its generated `client_id` and first `client_secret` for the client credentials grant "
                     "(POST /oauth/token with `grant_type=client_credentials`). " + SHOWN_ONCE + " Its tokens carry "
                     "the `scopes` given (some of users:read, users:write, admin; users:write and admin act with "
                     "the admin role). Registering " + STEP_UP + ". Audited (`service_account.created`).",
         responses={201: {"headers": LOCATION_HEADER}})
    @use_kwargs(service_account_create, location="json", required=True)
    @marshal_with(service_account_created, code=201, description="The new service account with its client secret "
                                                                 "(shown once); `Location` names it")
    @problems(400, 413, 415, 503)
    def post(self, name, scopes):
        self.step_up.require(auth.current_user(), current_session_id())
        account, _client_id, client_secret = self.service_accounts.register(auth.current_user().id, name, scopes,
                                                                            client_info())
        return {**account, "client_secret": client_secret}, 201, _location(account["id"])


class ServiceAccountItem(ApiResource):
    """One service account."""

    @inject
    def __init__(self, service_accounts: ServiceAccountService):
        self.service_accounts = service_accounts

    @requires(Scope.ADMIN, role=ADMIN)
    @doc(**SERVICE_ACCOUNTS, operationId="getServiceAccount", summary="Get a service account (admin)",
         description="Its scopes and its client secrets by id and hint (never a secret or its digest).")
    @marshal_with(service_account_public, code=200, description="The service account")
    @problems(404, 503)
    def get(self, account_id):
        return self.service_accounts.get(account_id)

    @requires(Scope.ADMIN, role=ADMIN)
    @doc(**SERVICE_ACCOUNTS, operationId="deleteServiceAccount", summary="Delete a service account (admin)",
         description="Deletes it with its client secrets: its access tokens stop working at once (every request "
                     "reads the account), and its secrets obtain no more. Audited (`service_account.deleted`).")
    @no_content_response("Deleted")
    @problems(404, 503)
    def delete(self, account_id):
        self.service_accounts.delete(auth.current_user().id, account_id, client_info())
        return no_content()


class ClientSecretCollection(ApiResource):
    """The client secrets of a service account."""

    @inject
    def __init__(self, service_accounts: ServiceAccountService, step_up: StepUpService):
        self.service_accounts = service_accounts
        self.step_up = step_up

    @requires(Scope.ADMIN, Scope.CREDENTIALS, role=ADMIN)
    @doc(**SERVICE_ACCOUNTS, operationId="addClientSecret", summary="Add a client secret to a service account "
                                                                    "(admin)",
         description=f"For a rotation without downtime: an account holds at most {MAX_LIVE_SECRETS} secrets and "
                     "either one obtains tokens. Add the new one, deploy it, then delete the old one (DELETE "
                     ".../secrets/{secret_id}). With two already: 409 `too-many-client-secrets`. " + SHOWN_ONCE +
                     " Adding " + STEP_UP + ". Audited (`service_account.secret_added`).",
         responses={201: {"headers": LOCATION_HEADER}})
    @marshal_with(client_secret_created, code=201, description="The new client secret (shown once); `Location` "
                                                               "names its service account")
    @problems(404, 409, 503)
    def post(self, account_id):
        self.step_up.require(auth.current_user(), current_session_id())
        secret, client_secret = self.service_accounts.add_secret(auth.current_user().id, account_id, client_info())
        return {**secret, "client_secret": client_secret}, 201, _location(account_id)


class ClientSecretItem(ApiResource):
    """One client secret of a service account."""

    @inject
    def __init__(self, service_accounts: ServiceAccountService):
        self.service_accounts = service_accounts

    @requires(Scope.ADMIN, role=ADMIN)
    @doc(**SERVICE_ACCOUNTS, operationId="deleteClientSecret", summary="Delete a client secret of a service "
                                                                       "account (admin)",
         description="The secret obtains no more tokens from now on; tokens it already obtained work until they "
                     "expire (ACCESS_TOKEN_TTL seconds: delete the account to stop them at once). Deleting the last "
                     "secret leaves an account that cannot authenticate until one is added. Audited "
                     "(`service_account.secret_deleted`).")
    @no_content_response("Deleted")
    @problems(404, 503)
    def delete(self, account_id, secret_id):
        self.service_accounts.delete_secret(auth.current_user().id, account_id, secret_id, client_info())
        return no_content()


# Ids past a signed 64-bit integer cannot exist: 404 from routing, not an overflow in the database driver.
_ID = "int(max=9223372036854775807)"
RESOURCES = [
    ("/service-accounts", ServiceAccountCollection, "service_accounts"),
    (f"/service-accounts/<{_ID}:account_id>", ServiceAccountItem, "service_account"),
    (f"/service-accounts/<{_ID}:account_id>/secrets", ClientSecretCollection, "service_account_secrets"),
    (f"/service-accounts/<{_ID}:account_id>/secrets/<{_ID}:secret_id>", ClientSecretItem, "service_account_secret"),
]
