"""Schemas of the second-factor endpoints: TOTP enrolment and confirmation, recovery codes, the second step of a
sign-in, re-authentication, and the `mfa-required` problem a sign-in answers for an account with a second factor."""
from marshmallow import Schema, fields, validate

from app.dto import fields as f
from app.dto.auth import TOKEN_MAX_LENGTH
from app.dto.problem import ProblemSchema
from app.entities.session import AAL1, AAL2
from app.services.mfa import RECOVERY_CODE_COUNT

CODE_MAX_LENGTH = 64  # characters: a TOTP code is 6, a recovery code 29 with its hyphens; spaces may be typed
CODE = f.Pattern(r"^[A-Za-z0-9 -]+$", error="A six-digit code or a recovery code: letters, digits, spaces and "
                                            "hyphens only.")


def code(required=True, description="A current six-digit code of your authenticator app (RFC 6238), or one of your "
                                    "recovery codes (hyphens and spaces optional)"):
    return fields.String(required=required, validate=[validate.Length(min=6, max=CODE_MAX_LENGTH), CODE],
                         metadata={"description": description, "example": "123456"})


def mfa_token():
    """The `mfa_token` of a 403 `mfa-required` problem: an itsdangerous token, URL-safe text (base64url and dots)."""
    return fields.String(required=True, validate=[validate.Length(min=1, max=TOKEN_MAX_LENGTH),
                                                  f.Pattern(r"^[A-Za-z0-9_.-]+$", error="Not an MFA token.")],
                         metadata={"description": "The `mfa_token` of the `mfa-required` problem the sign-in answered",
                                   "example": "eyJzdWIiOjEsImp0aSI6IlhxM3JWMGIxbTdvOVF5VHEyY0o4a3E2SDBtM3BYelk1cjRu"
                                              "MncxdjB1OXMifQ.aW1Jdw.k3Jx0cYl3qVnZ8Xb2QmZ1pVw4sT6uR9yE0aH5gK7jL8"})


class TotpEnrolRequest(Schema):
    """POST /users/me/mfa/totp body: re-authentication. `current_password` is needed unless you signed in (or
    re-authenticated) within STEP_UP_MAX_AGE seconds; accounts with a second factor already, or without a password,
    need that recent sign-in instead."""

    current_password = f.password_to_check()


class TotpEnrolment(Schema):
    """What to put in an authenticator app. Shown once: the secret is never shown again."""

    secret = fields.String(required=True, metadata={"description": "The shared secret, base32 (RFC 4648), for "
                                                                   "typing in by hand", "example": "JBSWY3DPEHPK3PXP"})
    otpauth_uri = fields.String(required=True, metadata={
        "description": "The Key Uri Format URI authenticator apps read (6 digits, 30-second steps, SHA-1)",
        "example": "otpauth://totp/Gatehouse:ada%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Gatehouse"})
    qr_svg = fields.String(required=True, metadata={"description": "`otpauth_uri` as a QR code: an SVG document",
                                                    "example": "<svg xmlns=\"http://www.w3.org/2000/svg\" ..."})


class CodeRequest(Schema):
    """A body with a code: TOTP confirmation, TOTP removal."""

    code = code()


class RecoveryCodeSet(Schema):
    """New recovery codes: shown once, each works once; earlier ones stop working."""

    recovery_codes = fields.List(fields.String(), required=True, metadata={
        "description": f"{RECOVERY_CODE_COUNT} codes of 120 random bits; keep them somewhere safe",
        "example": ["k7qd-2mxa-p4jz-w6rt-b3yc-n5fh"]})


class MfaStatus(Schema):
    """An account's second factors."""

    enabled = fields.Boolean(required=True, metadata={"description": "Sign-ins ask for a second factor"})
    totp = fields.Boolean(required=True, metadata={"description": "An authenticator app is active"})
    passkeys = fields.Integer(required=True, metadata={"description": "How many passkeys", "example": 1})
    recovery_codes = fields.Integer(required=True, metadata={"description": "How many unused recovery codes",
                                                             "example": 10})


class MfaCompleteRequest(Schema):
    """POST /auth/mfa body."""

    mfa_token = mfa_token()
    code = code()


class ReauthenticateRequest(Schema):
    """POST /auth/reauthenticate body."""

    password = f.password_to_check(required=True)
    code = code(required=False, description="With a second factor: a current TOTP code or a recovery code, for "
                                            "the two-factor class (aal2)")


class Reauthenticated(Schema):
    """The session's new authentication context class."""

    acr = fields.String(required=True, validate=validate.OneOf([AAL1, AAL2]), metadata={
        "description": "`aal2` with a valid second factor, else `aal1` (RFC 9470 `acr`, after NIST SP 800-63B)",
        "example": AAL2})
    max_age = fields.Integer(required=True, metadata={
        "description": "Seconds this re-authentication satisfies step-up (STEP_UP_MAX_AGE)", "example": 600})


class MfaRequiredProblem(ProblemSchema):
    """The `mfa-required` problem (403) of a sign-in to an account with a second factor: the first factor was right;
    no tokens yet. Send `mfa_token` with a code to POST /auth/mfa (or with a passkey to POST /auth/mfa/passkey)."""

    class Meta(ProblemSchema.Meta):
        exclude = ("errors",)  # never a validation problem

    mfa_token = fields.String(required=True, metadata={"description": "Single use; lives `expires_in` seconds; "
                                                                      "MFA_MAX_ATTEMPTS wrong codes end it"})
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds", "example": 300})
    factors = fields.List(fields.String(validate=validate.OneOf(["totp", "recovery_code", "passkey"])),
                          required=True, metadata={"example": ["totp", "recovery_code"]})


totp_enrol_request = TotpEnrolRequest()
totp_enrolment = TotpEnrolment()
code_request = CodeRequest()
recovery_code_set = RecoveryCodeSet()
mfa_status = MfaStatus()
mfa_complete_request = MfaCompleteRequest()
reauthenticate_request = ReauthenticateRequest()
reauthenticated = Reauthenticated()
mfa_required_problem = MfaRequiredProblem()
