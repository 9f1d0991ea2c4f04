"""Second factors: the caller's TOTP authenticator and recovery codes (/users/me/mfa), an admin's reset of a user's
factors, the second step of a sign-in (POST /auth/mfa), and re-authentication for step-up (POST /auth/reauthenticate).
Passkeys are in app/controllers/passkeys.py."""
from flask_apispec import doc, marshal_with, use_kwargs
from injector import inject

from app.controllers.auth import NO_STORE, TOKENS
from app.controllers.docs import PUBLIC, no_content_response, problems
from app.controllers.rate_limits import bearer_user_key, mfa_user_key, rate_limited
from app.controllers.resource import ApiResource, no_content
from app.controllers.security import allowed_before_mfa_enrolment, client_info, current_session_id, requires
from app.dto.auth import token_response
from app.dto.mfa import (
    code_request,
    mfa_complete_request,
    mfa_status,
    reauthenticate_request,
    reauthenticated,
    recovery_code_set,
    totp_enrol_request,
    totp_enrolment,
)
from app.entities import Role
from app.entities.scope import Scope
from app.extensions import auth
from app.services.mfa import MfaService
from app.services.sign_in import SignInService
from app.services.step_up import StepUpService

MFA = {"tags": ["mfa"]}
STEP_UP = ("Needs a recent authentication (step-up): at most STEP_UP_MAX_AGE seconds old, two-factor when the "
           "account has a second factor; otherwise 401 `insufficient_user_authentication` (RFC 9470) with the "
           "`acr_values` and `max_age` to meet.")


class MfaStatusResource(ApiResource):
    """The caller's second factors."""

    @inject
    def __init__(self, mfa: MfaService):
        self.mfa = mfa

    @allowed_before_mfa_enrolment
    @requires(Scope.PROFILE_READ)
    @doc(**MFA, operationId="getMfaStatus", summary="Your second factors",
         description="Whether sign-ins ask for a second factor, and which ones the account has.")
    @marshal_with(mfa_status, code=200)
    @problems(503)
    def get(self):
        return self.mfa.status(auth.current_user().id)


class TotpResource(ApiResource):
    """Enrol an authenticator app."""

    @inject
    def __init__(self, mfa: MfaService):
        self.mfa = mfa

    @allowed_before_mfa_enrolment
    @rate_limited(bearer_user_key, failures_only=True)  # a wrong current_password is a password guess
    @requires(Scope.CREDENTIALS)
    @doc(**MFA, operationId="enrolTotp", summary="Start setting up an authenticator app (TOTP)",
         description="Answers a new secret, its `otpauth://` URI and that URI as a QR code (SVG), once: put it in "
                     "an authenticator app, then confirm with a code from it (POST /users/me/mfa/totp/confirm). "
                     "Until confirmed nothing changes, and enrolling again replaces the pending secret. Needs "
                     "`current_password`, or a sign-in within STEP_UP_MAX_AGE seconds (two-factor if the account "
                     "has a passkey already). 409 when an authenticator is active already. Rate limited.")
    @use_kwargs(totp_enrol_request, location="json", required=True)
    @marshal_with(totp_enrolment, code=200, description="The pending enrolment: shown once")
    @problems(400, 409, 413, 415, 429, 503)
    def post(self, current_password=None):
        enrolment = self.mfa.enrol_totp(auth.current_user(), current_session_id(), current_password, client_info())
        return enrolment, 200, NO_STORE


class TotpConfirmResource(ApiResource):
    """Activate the pending authenticator."""

    @inject
    def __init__(self, mfa: MfaService):
        self.mfa = mfa

    @allowed_before_mfa_enrolment
    @rate_limited(bearer_user_key, failures_only=True)
    @requires(Scope.CREDENTIALS)
    @doc(**MFA, operationId="confirmTotp", summary="Activate your authenticator app with a code from it",
         description="From now on sign-ins ask for a code. Answers 10 new recovery codes, once: each works once "
                     "in place of a code. This session counts as two-factor authenticated. A wrong code is 403 "
                     "(rate limited); 409 when nothing is pending.")
    @use_kwargs(code_request, location="json", required=True)
    @marshal_with(recovery_code_set, code=200, description="The recovery codes: shown once")
    @problems(400, 409, 413, 415, 429, 503)
    def post(self, code):
        codes = self.mfa.confirm_totp(auth.current_user().id, current_session_id(), code, client_info())
        return {"recovery_codes": codes}, 200, NO_STORE


class TotpDisableResource(ApiResource):
    """Remove the authenticator."""

    @inject
    def __init__(self, mfa: MfaService):
        self.mfa = mfa

    @rate_limited(bearer_user_key, failures_only=True)
    @requires(Scope.CREDENTIALS)
    @doc(**MFA, operationId="disableTotp", summary="Remove your authenticator app",
         description="Needs a current code (or a recovery code). " + STEP_UP + " Without a passkey left, sign-ins "
                     "stop asking for a second factor and the recovery codes are deleted. Audited.")
    @use_kwargs(code_request, location="json", required=True)
    @no_content_response("Removed")
    @problems(400, 409, 413, 415, 429, 503)
    def post(self, code):
        self.mfa.disable_totp(auth.current_user(), current_session_id(), code, client_info())
        return no_content()


class RecoveryCodesResource(ApiResource):
    """Replace the recovery codes."""

    @inject
    def __init__(self, mfa: MfaService):
        self.mfa = mfa

    @requires(Scope.CREDENTIALS)
    @doc(**MFA, operationId="regenerateRecoveryCodes", summary="Replace your recovery codes",
         description="Answers 10 new codes, once; the earlier ones stop working. " + STEP_UP + " 409 without a "
                     "second factor.")
    @marshal_with(recovery_code_set, code=200, description="The recovery codes: shown once")
    @problems(409, 503)
    def post(self):
        codes = self.mfa.regenerate_recovery_codes(auth.current_user(), current_session_id(), client_info())
        return {"recovery_codes": codes}, 200, NO_STORE


class UserMfaResource(ApiResource):
    """An admin's reset of a user's second factors."""

    @inject
    def __init__(self, mfa: MfaService, step_up: StepUpService):
        self.mfa = mfa
        self.step_up = step_up

    @requires(Scope.ADMIN, Scope.CREDENTIALS, role=Role.ADMIN.value)
    @doc(**MFA, operationId="resetUserMfa", summary="Remove every second factor of a user (admin)",
         description="For a user who lost their authenticator and recovery codes: deletes their authenticator, "
                     "passkeys and recovery codes, signs them out everywhere, and mails them. " + STEP_UP +
                     " Not your own (409): remove your own factors yourself. Audited with you as the actor.")
    @no_content_response("Reset")
    @problems(404, 409, 503)
    def delete(self, user_id):
        self.step_up.require(auth.current_user(), current_session_id())
        self.mfa.reset(auth.current_user().id, user_id, client_info())
        return no_content()


class MfaCompleteResource(ApiResource):
    """The second step of a sign-in."""

    @inject
    def __init__(self, sign_in: SignInService):
        self.sign_in = sign_in

    @rate_limited(mfa_user_key, failures_only=True)
    @doc(**TOKENS, operationId="completeMfa", security=PUBLIC,
         summary="Finish a sign-in with a second factor",
         description="When a sign-in (password, social) answers the 403 `mfa-required` problem, send its "
                     "`mfa_token` with a current code of the authenticator app, or a recovery code. Answers the "
                     "token response of a new two-factor session. The MFA token works once and for `expires_in` "
                     "seconds; a code works once (the same code again is refused), with one 30-second step of "
                     "clock drift either way. A wrong code is 401 `invalid-second-factor`; MFA_MAX_ATTEMPTS of "
                     "them end the MFA token (401 `invalid-mfa-token`: sign in again). Rate limited per address and "
                     "per account.")
    @use_kwargs(mfa_complete_request, location="json", required=True)
    @marshal_with(token_response, code=200, description="Token response; `expires_in` is in seconds")
    @problems(400, 401, 413, 415, 429, 503)
    def post(self, mfa_token, code):
        return self.sign_in.complete(mfa_token, code, client_info()), 200, NO_STORE


class ReauthenticateResource(ApiResource):
    """Step up: prove who you are again in this session."""

    @inject
    def __init__(self, sign_in: SignInService, step_up: StepUpService):
        self.sign_in = sign_in
        self.step_up = step_up

    @allowed_before_mfa_enrolment
    @rate_limited(bearer_user_key, failures_only=True)
    @requires(Scope.CREDENTIALS)
    @doc(**TOKENS, operationId="reauthenticate",
         summary="Re-authenticate in this session (step-up)",
         description="After a 401 `insufficient_user_authentication`: your password, and with a second factor a "
                     "current code (or a recovery code), make this session's authentication recent (and two-factor, "
                     "`aal2`) for STEP_UP_MAX_AGE seconds; then retry. The tokens stay the same. Accounts without a "
                     "password sign in again instead. A wrong password or code is 403 and counts as a failed "
                     "attempt (rate limited).")
    @use_kwargs(reauthenticate_request, location="json", required=True)
    @marshal_with(reauthenticated, code=200)
    @problems(400, 413, 415, 429, 503)
    def post(self, password, code=None):
        acr = self.sign_in.reauthenticate(auth.current_user().id, current_session_id(), password, code, client_info())
        return {"acr": acr, "max_age": self.step_up.max_age}


RESOURCES = [
    ("/users/me/mfa", MfaStatusResource, "mfa_status"),
    ("/users/me/mfa/totp", TotpResource, "totp"),
    ("/users/me/mfa/totp/confirm", TotpConfirmResource, "totp_confirm"),
    ("/users/me/mfa/totp/disable", TotpDisableResource, "totp_disable"),
    ("/users/me/mfa/recovery-codes", RecoveryCodesResource, "recovery_codes"),
    ("/users/<int(max=9223372036854775807):user_id>/mfa", UserMfaResource, "user_mfa"),
    ("/auth/mfa", MfaCompleteResource, "mfa"),
    ("/auth/reauthenticate", ReauthenticateResource, "reauthenticate"),
]
