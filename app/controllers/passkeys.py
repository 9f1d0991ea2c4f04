"""Passkeys (WebAuthn Level 3): the caller's own under /api/v1/users/me/passkeys, signing in with one at
/api/v1/auth/passkey, and one as the second factor of a pending sign-in at /api/v1/auth/mfa/passkey.

Each ceremony is two calls: `.../options` answers a ceremony token and the options for `navigator.credentials`
(`create()` or `get()`); the second call sends the token back with `credential.toJSON()`. Token responses follow RFC
6749 5.1 and are not cached; so are the options (they hold a ceremony token)."""
from flask import url_for
from flask_apispec import doc, marshal_with, use_kwargs
from injector import inject

from app.controllers.auth import NO_STORE
from app.controllers.docs import LOCATION_HEADER, PUBLIC, no_content_response, problems
from app.controllers.rate_limits import bearer_user_key, mfa_user_key, rate_limited
from app.controllers.resource import ApiResource, no_content
from app.controllers.security import allowed_before_mfa_enrolment, client_info, current_session_id, requires
from app.dto.auth import token_response
from app.dto.passkeys import (
    mfa_passkey_complete,
    mfa_passkey_options_request,
    passkey_create,
    passkey_creation_options,
    passkey_list,
    passkey_public,
    passkey_request_options,
    passkey_sign_in,
)
from app.entities.scope import Scope
from app.extensions import auth
from app.services.passkeys import PasskeyService

PASSKEYS = {"tags": ["passkeys"]}
SIGNED_IN = "Token response; `expires_in` is in seconds"


class PasskeyRegistrationOptionsResource(ApiResource):
    """Start registering a passkey."""

    @inject
    def __init__(self, passkeys: PasskeyService):
        self.passkeys = passkeys

    @allowed_before_mfa_enrolment  # REQUIRE_MFA_FOR_ADMINS: a passkey is a way to enrol
    @rate_limited(bearer_user_key)
    @requires(Scope.CREDENTIALS)
    @doc(**PASSKEYS, operationId="startPasskeyRegistration",
         summary="Get the options to create a passkey",
         description="Answers a ceremony token and PublicKeyCredentialCreationOptionsJSON (WebAuthn Level 3 5.4): a "
                     "discoverable credential with user verification for WEBAUTHN_RP_ID, excluding your passkeys. "
                     "Create the credential with them and send it to POST /users/me/passkeys within "
                     "WEBAUTHN_CEREMONY_TTL seconds. Needs a recent sign-in (STEP_UP_MAX_AGE seconds; a two-factor "
                     "one when the account has a second factor): otherwise 401 `insufficient_user_authentication` "
                     "(RFC 9470). Rate limited per account.")
    @marshal_with(passkey_creation_options, code=200, description="The ceremony and its options")
    @problems(429, 503)
    def post(self):
        return self.passkeys.registration_options(auth.current_user(), current_session_id()), 200, NO_STORE


class PasskeyCollection(ApiResource):
    """The caller's passkeys."""

    @inject
    def __init__(self, passkeys: PasskeyService):
        self.passkeys = passkeys

    @allowed_before_mfa_enrolment
    @requires(Scope.PROFILE_READ)
    @doc(**PASSKEYS, operationId="listPasskeys", summary="List your passkeys",
         description="Oldest first. Neither keys nor credential IDs are shown.")
    @marshal_with(passkey_list, code=200, description="Your passkeys")
    @problems(503)
    def get(self):
        return {"items": self.passkeys.list(auth.current_user().id)}

    @allowed_before_mfa_enrolment
    @rate_limited(bearer_user_key)
    @requires(Scope.CREDENTIALS)
    @doc(**PASSKEYS, operationId="registerPasskey", summary="Register a passkey",
         description="Verifies the credential against the ceremony (WebAuthn Level 3 7.1: challenge, origin in "
                     "WEBAUTHN_ORIGINS, RP ID, user presence and verification) and keeps its public key. The "
                     "account then has a second factor: password and social sign-ins ask for it, and this session "
                     "counts as two-factor authenticated. The ceremony works once: a response that does not verify "
                     "answers 400 and needs new options. Audited. Rate limited per account.",
         responses={201: {"headers": LOCATION_HEADER}})
    @use_kwargs(passkey_create, location="json", required=True)
    @marshal_with(passkey_public, code=201, description="The new passkey; `Location` names it")
    @problems(400, 413, 415, 429, 503)
    def post(self, ceremony, name, credential):
        passkey = self.passkeys.register(auth.current_user().id, current_session_id(), ceremony, name, credential,
                                         client_info())
        return passkey, 201, {"Location": url_for("api.passkey", passkey_id=passkey.id)}


class PasskeyItem(ApiResource):
    """One passkey of the caller."""

    @inject
    def __init__(self, passkeys: PasskeyService):
        self.passkeys = passkeys

    @requires(Scope.CREDENTIALS)
    @doc(**PASSKEYS, operationId="deletePasskey", summary="Remove a passkey",
         description="Its credential stops signing in here (remove it from the authenticator too). Without another "
                     "passkey or TOTP authenticator the account has no second factor any more, and its recovery "
                     "codes go. Needs a recent sign-in, as creating one does (401 "
                     "`insufficient_user_authentication`). Another user's passkey answers 404. Audited.")
    @no_content_response("Removed")
    @problems(404, 503)
    def delete(self, passkey_id):
        self.passkeys.delete(auth.current_user(), current_session_id(), passkey_id, client_info())
        return no_content()


class PasskeySignInOptionsResource(ApiResource):
    """Start a passkey sign-in."""

    @inject
    def __init__(self, passkeys: PasskeyService):
        self.passkeys = passkeys

    @rate_limited()
    @doc(**PASSKEYS, operationId="startPasskeySignIn", security=PUBLIC, summary="Get the options to sign in with "
                                                                                "a passkey",
         description="Answers a ceremony token and PublicKeyCredentialRequestOptionsJSON (WebAuthn Level 3 5.5) "
                     "naming no credential: the authenticator offers the passkeys it holds for WEBAUTHN_RP_ID "
                     "(usernameless sign-in). Send its answer to POST /auth/passkey within WEBAUTHN_CEREMONY_TTL "
                     "seconds. Rate limited.")
    @marshal_with(passkey_request_options, code=200, description="The ceremony and its options")
    @problems(429, 503)
    def post(self):
        return self.passkeys.sign_in_options(), 200, NO_STORE


class PasskeySignInResource(ApiResource):
    """Sign in with a passkey."""

    @inject
    def __init__(self, passkeys: PasskeyService):
        self.passkeys = passkeys

    @rate_limited()
    @doc(**PASSKEYS, operationId="signInWithPasskey", security=PUBLIC, summary="Exchange a passkey's answer for "
                                                                               "tokens",
         description="Verifies the answer to the ceremony (WebAuthn Level 3 7.2: a registered credential and its "
                     "user handle, challenge, origin, RP ID, user presence and verification, signature, a growing "
                     "signature counter) and starts a session of class `aal2` (a passkey with user verification is "
                     "two factors: no second factor is asked for). Answers the token response of password login. "
                     "An unknown, expired or used ceremony, an unknown or removed passkey, an inactive account and "
                     "a response that does not verify answer 401; the ceremony works once. Failures are audited. "
                     "Rate limited.")
    @use_kwargs(passkey_sign_in, location="json", required=True)
    @marshal_with(token_response, code=200, description=SIGNED_IN)
    @problems(400, 401, 413, 415, 429, 503)
    def post(self, ceremony, credential):
        return self.passkeys.sign_in(ceremony, credential, client_info()), 200, NO_STORE


class MfaPasskeyOptionsResource(ApiResource):
    """Start answering a pending sign-in with a passkey."""

    @inject
    def __init__(self, passkeys: PasskeyService):
        self.passkeys = passkeys

    @rate_limited()
    @doc(**PASSKEYS, operationId="startPasskeySecondFactor", security=PUBLIC,
         summary="Get the options to answer a second-factor challenge with a passkey",
         description="For the `mfa_token` of a sign-in that answered 403 `mfa-required`: a ceremony token and "
                     "PublicKeyCredentialRequestOptionsJSON (WebAuthn Level 3 5.5) listing the account's passkeys "
                     "(`allowCredentials`). Send the answer to POST /auth/mfa/passkey with the same `mfa_token`. An "
                     "invalid, expired or used MFA token answers 401; an account without a passkey 409. Rate "
                     "limited.")
    @use_kwargs(mfa_passkey_options_request, location="json", required=True)
    @marshal_with(passkey_request_options, code=200, description="The ceremony and its options")
    @problems(400, 401, 409, 413, 415, 429, 503)
    def post(self, mfa_token):
        return self.passkeys.second_factor_options(mfa_token), 200, NO_STORE


class MfaPasskeyResource(ApiResource):
    """Complete a pending sign-in with a passkey."""

    @inject
    def __init__(self, passkeys: PasskeyService):
        self.passkeys = passkeys

    @rate_limited(mfa_user_key, failures_only=True)
    @doc(**PASSKEYS, operationId="completeMfaWithPasskey", security=PUBLIC,
         summary="Complete a sign-in with a passkey as the second factor",
         description="Verifies the passkey's answer to the ceremony of POST /auth/mfa/passkey/options (WebAuthn "
                     "Level 3 7.2, one of the account's passkeys) and answers the token response of a two-factor "
                     "(`aal2`) session. The MFA token works once; an answer that does not verify answers 401 and "
                     "counts against it, as a wrong code does (MFA_MAX_ATTEMPTS end it). Rate limited per "
                     "address, and per account counting failures only.")
    @use_kwargs(mfa_passkey_complete, location="json", required=True)
    @marshal_with(token_response, code=200, description=SIGNED_IN)
    @problems(400, 401, 413, 415, 429, 503)
    def post(self, mfa_token, ceremony, credential):
        return self.passkeys.complete_second_factor(mfa_token, ceremony, credential, client_info()), 200, NO_STORE


RESOURCES = [
    ("/users/me/passkeys/options", PasskeyRegistrationOptionsResource, "passkey_registration_options"),
    ("/users/me/passkeys", PasskeyCollection, "passkeys"),
    # Ids past a signed 64-bit integer cannot exist: 404 from routing, not an overflow in the database driver.
    ("/users/me/passkeys/<int(max=9223372036854775807):passkey_id>", PasskeyItem, "passkey"),
    ("/auth/passkey/options", PasskeySignInOptionsResource, "passkey_sign_in_options"),
    ("/auth/passkey", PasskeySignInResource, "passkey_sign_in"),
    ("/auth/mfa/passkey/options", MfaPasskeyOptionsResource, "mfa_passkey_options"),
    ("/auth/mfa/passkey", MfaPasskeyResource, "mfa_passkey"),
]
