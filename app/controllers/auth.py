"""/api/v1/auth: registration, password and social login, token refresh, logout, email verification, password
reset. Token responses follow RFC 6749 5.1; every endpoint that takes credentials or sends mail is rate limited."""
from flask import url_for
from flask_apispec import doc, marshal_with, use_kwargs
from injector import inject

from app.controllers.docs import LOCATION_HEADER, PUBLIC, no_content_response, problems
from app.controllers.rate_limits import bearer_user_key, email_key, rate_limited, refresh_token_key
from app.controllers.resource import ApiResource, no_content
from app.controllers.security import allowed_before_mfa_enrolment, client_info, current_session_id, requires
from app.dto.auth import (
    accepted,
    login_request,
    password_reset_confirm,
    password_reset_request,
    refresh_request,
    register_request,
    social_login_request,
    token_request,
    token_response,
)
from app.dto.mfa import mfa_required_problem
from app.dto.users import user_public
from app.entities.scope import Scope
from app.extensions import auth
from app.services.auth import AuthService
from app.services.email_verification import EmailVerificationService
from app.services.password_reset import PasswordResetService
from app.services.sessions import SessionService
from app.services.social import SocialLoginService
from app.services.users import UserService

# RFC 6749 5.1: token responses must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
TOKENS = {"tags": ["auth"]}
MFA_REQUIRED = ("An account with a second factor answers 403 `mfa-required` instead of tokens: finish with its "
                "`mfa_token` at POST /auth/mfa (a code) or POST /auth/mfa/passkey.")


def mfa_required_response(func):
    """Document the 403 `mfa-required` problem (MfaRequiredProblem) of a sign-in."""
    return marshal_with(mfa_required_problem, code=403,
                        description="Second factor required: the problem carries `mfa_token`, `expires_in` "
                                    "(seconds) and `factors`")(func)


class RegisterResource(ApiResource):
    """Self-service sign-up."""

    @inject
    def __init__(self, users: UserService):
        self.users = users

    @rate_limited(email_key)
    @doc(**TOKENS, operationId="register", security=PUBLIC, summary="Create an account",
         description="Creates an active account with the `user` role and mails a verification token to the "
                     "address (see verify-email). The email is compared case-insensitively. Rate limited.",
         responses={201: {"headers": LOCATION_HEADER}})
    @use_kwargs(register_request, location="json", required=True)
    @marshal_with(user_public, code=201, description="The new user; `Location` names it")
    @problems(400, 409, 413, 415, 429, 503)
    def post(self, email, name, password):
        user = self.users.create(email=email, name=name, password=password, client=client_info())
        return user, 201, {"Location": url_for("api.user", user_id=user.id)}


class LoginResource(ApiResource):
    """Password login."""

    @inject
    def __init__(self, auth_service: AuthService):
        self.auth = auth_service

    @rate_limited(email_key, failures_only=True)
    @doc(**TOKENS, operationId="login", security=PUBLIC, summary="Exchange email and password for tokens",
         description="Starts a session and answers an RFC 6749 token response with a refresh token. Unknown email, "
                     "wrong password and inactive account all answer the same 401, in about the same time. Rate "
                     "limited per address, and per account counting failures only. " + MFA_REQUIRED)
    @use_kwargs(login_request, location="json", required=True)
    @marshal_with(token_response, code=200, description="Token response; `expires_in` is in seconds")
    @mfa_required_response
    @problems(400, 401, 413, 415, 429, 503)
    def post(self, email, password):
        return self.auth.login(email, password, client_info()), 200, NO_STORE


class RefreshResource(ApiResource):
    """Refresh token rotation."""

    @inject
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @rate_limited(refresh_token_key)
    @doc(**TOKENS, operationId="refresh", security=PUBLIC, summary="Exchange a refresh token for a new token pair",
         description="Spends the refresh token and answers a new access and refresh token in the same session. "
                     "A refresh token works once: presenting a spent one again ends the whole session (all its "
                     "tokens) and answers 401, so refresh from one place at a time. Rate limited.")
    @use_kwargs(refresh_request, location="json", required=True)
    @marshal_with(token_response, code=200, description="Token response; `expires_in` is in seconds")
    @problems(400, 401, 413, 415, 429, 503)
    def post(self, refresh_token):
        return self.sessions.refresh(refresh_token, client_info()), 200, NO_STORE


class LogoutResource(ApiResource):
    """End the current session."""

    @inject
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @allowed_before_mfa_enrolment
    @requires(Scope.CREDENTIALS)
    @doc(**TOKENS, operationId="logout", summary="End this session",
         description="The bearer token's session ends: its access tokens and refresh tokens stop working at once.")
    @no_content_response("Signed out")
    @problems(503)
    def post(self):
        self.sessions.end(auth.current_user().id, current_session_id(), client_info())
        return no_content()


class LogoutAllResource(ApiResource):
    """End every session of the caller."""

    @inject
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @allowed_before_mfa_enrolment
    @requires(Scope.CREDENTIALS)
    @doc(**TOKENS, operationId="logoutAll", summary="End every session of your account",
         description="Every access and refresh token of the account, on every device, stops working at once.")
    @no_content_response("Signed out everywhere")
    @problems(503)
    def post(self):
        self.sessions.end_everywhere(auth.current_user().id, client_info())
        return no_content()


class SocialLoginResource(ApiResource):
    """Sign in with an OpenID Connect provider's ID token."""

    @inject
    def __init__(self, social: SocialLoginService):
        self.social = social

    @rate_limited()
    @doc(**TOKENS, operationId="socialLogin", security=PUBLIC, summary="Exchange a provider's ID token for tokens",
         description="Verifies an OpenID Connect ID token of a configured provider (`google`, or one named in "
                     "OIDC_PROVIDERS): signature against the provider's JWKS, `iss`, `aud` (our client id), `exp`, "
                     "`iat`, and a verified `email`. The first sign-in links the provider account to the account "
                     "with that email, or creates one without a password. Answers the same token response as "
                     "password login. 503 when the provider's keys cannot be fetched (nothing is written). "
                     "Rate limited. " + MFA_REQUIRED,
         params={"provider": {"description": "Provider name, e.g. `google`"}})
    @use_kwargs(social_login_request, location="json", required=True)
    @marshal_with(token_response, code=200, description="Token response; `expires_in` is in seconds")
    @mfa_required_response
    @problems(400, 401, 404, 413, 415, 429, 503)
    def post(self, provider, id_token):
        return self.social.login(provider, id_token, client_info()), 200, NO_STORE


class VerifyEmailResource(ApiResource):
    """Redeem an email verification token."""

    @inject
    def __init__(self, verification: EmailVerificationService):
        self.verification = verification

    @rate_limited()
    @doc(**TOKENS, operationId="verifyEmail", security=PUBLIC,
         summary="Confirm your email address with the mailed token",
         description="Tokens are single use and expire after EMAIL_VERIFICATION_TTL seconds; a newer one replaces "
                     "the older. A used, expired or replaced token answers 400.")
    @use_kwargs(token_request, location="json", required=True)
    @no_content_response("The email is verified")
    @problems(400, 413, 415, 429, 503)
    def post(self, token):
        self.verification.verify(token, client_info())
        return no_content()


class ResendVerificationResource(ApiResource):
    """Mail a new verification token."""

    @inject
    def __init__(self, verification: EmailVerificationService):
        self.verification = verification

    @allowed_before_mfa_enrolment
    @rate_limited(bearer_user_key)  # per account too: each call mails the account's address
    @requires(Scope.PROFILE_WRITE)
    @doc(**TOKENS, operationId="resendVerificationEmail", summary="Send the verification email again",
         description="Replaces the previous token. Nothing is sent when the email is verified.")
    @marshal_with(accepted, code=202, description="Sent (or nothing to send)")
    @problems(429, 503)
    def post(self):
        sent = self.verification.resend(auth.current_user().id)
        return {"detail": "A new verification message is on its way." if sent else
                "Your email address is verified already; nothing was sent."}, 202


class PasswordResetResource(ApiResource):
    """Ask for a password reset email."""

    @inject
    def __init__(self, resets: PasswordResetService):
        self.resets = resets

    @rate_limited(email_key)
    @doc(**TOKENS, operationId="requestPasswordReset", security=PUBLIC, summary="Mail a password reset token",
         description="Answers 202 whether or not the email belongs to an account (no account enumeration); an "
                     "active account gets a token valid for PASSWORD_RESET_TTL seconds, replacing any earlier one. "
                     "Rate limited per address and per email.")
    @use_kwargs(password_reset_request, location="json", required=True)
    @marshal_with(accepted, code=202, description="Accepted: if an active account has this email, a message is on "
                                                  "its way")
    @problems(400, 413, 415, 429, 503)
    def post(self, email):
        self.resets.request(email, client_info())
        return {"detail": "If an active account has this email address, a message with a reset token is on its "
                          "way."}, 202


class PasswordResetConfirmResource(ApiResource):
    """Set a new password with a reset token."""

    @inject
    def __init__(self, resets: PasswordResetService):
        self.resets = resets

    @rate_limited()
    @doc(**TOKENS, operationId="confirmPasswordReset", security=PUBLIC,
         summary="Choose a new password with the mailed token",
         description="Sets the password and ends every session of the account. The token works once; a used, "
                     "expired or replaced token answers 400. A password breaking the policy answers 400 and leaves "
                     "the token usable.")
    @use_kwargs(password_reset_confirm, location="json", required=True)
    @no_content_response("Password changed")
    @problems(400, 413, 415, 429, 503)
    def post(self, token, new_password):
        self.resets.confirm(token, new_password, client_info())
        return no_content()


RESOURCES = [
    ("/auth/register", RegisterResource, "register"),
    ("/auth/login", LoginResource, "login"),
    ("/auth/refresh", RefreshResource, "refresh"),
    ("/auth/logout", LogoutResource, "logout"),
    ("/auth/logout-all", LogoutAllResource, "logout_all"),
    ("/auth/social/<string(length=None, maxlength=24):provider>", SocialLoginResource, "social_login"),
    ("/auth/verify-email", VerifyEmailResource, "verify_email"),
    ("/auth/verify-email/resend", ResendVerificationResource, "resend_verification"),
    ("/auth/password-reset", PasswordResetResource, "password_reset"),
    ("/auth/password-reset/confirm", PasswordResetConfirmResource, "password_reset_confirm"),
]
