"""Schemas of the passkey endpoints (WebAuthn Level 3, https://www.w3.org/TR/webauthn-3/).

Requests carry what the browser's `PublicKeyCredential.toJSON()` returns (section 5.1): RegistrationResponseJSON
after `navigator.credentials.create()`, AuthenticationResponseJSON after `.get()`; their members keep WebAuthn's
camelCase names. Binary members are base64url without padding (RFC 4648 section 5), bounded by what authenticators
send. Responses carry the options for `create()` / `get()` in their JSON form (PublicKeyCredentialCreationOptionsJSON,
PublicKeyCredentialRequestOptionsJSON), for `PublicKeyCredential.parseCreationOptionsFromJSON()` /
`parseRequestOptionsFromJSON()`.
"""
from marshmallow import Schema, fields, validate
from webauthn.helpers import options_to_json_dict

from app.dto import fields as f
from app.dto.mfa import mfa_token
from app.entities.second_factor import PASSKEY_NAME_MAX_LENGTH

# Whole base64url groups: a length of 4n+1 characters is no base64url encoding.
BASE64URL = f.Pattern(r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?$",
                      error="Must be base64url without padding (RFC 4648 section 5).")
CREDENTIAL_ID_MAX_LENGTH = 1364  # characters: base64url of 1023 bytes, the longest credential ID (section 5.1)
CLIENT_DATA_MAX_LENGTH = 4096  # characters (3 KB): clientDataJSON is a few hundred bytes
ATTESTATION_MAX_LENGTH = 32768  # characters (24 KB): a "packed" or "tpm" attestation with its certificates
AUTHENTICATOR_DATA_MAX_LENGTH = 16384  # characters (12 KB)
SIGNATURE_MAX_LENGTH = 2048  # characters (1.5 KB): an RSA-4096 signature is 512 bytes
USER_HANDLE_MAX_LENGTH = 86  # characters: base64url of 64 bytes, the longest user handle (section 5.4.3)
PUBLIC_KEY_MAX_LENGTH = 4096  # characters (3 KB): a SubjectPublicKeyInfo, DER
CEREMONY_MAX_LENGTH = 64  # characters: ceremony tokens are 43
TRANSPORTS_MAX_ITEMS = 16
CEREMONY_EXAMPLE = "Xq3rV0b1m7o9QyTq2cJ8kq6H0m3pXzY5r4n2w1v0u9s"
CREDENTIAL_ID_EXAMPLE = "GzsC1S0xYoJOlwsZQXu_HA"


def base64url(max_length, description, example, **kwargs):
    """Binary data as base64url without padding: 1 to `max_length` characters."""
    return fields.String(validate=[validate.Length(min=1, max=max_length), BASE64URL],
                         metadata={"description": f"{description} base64url without padding, at most {max_length} "
                                                  "characters.", "example": example}, **kwargs)


def _enum(values, description, **kwargs):
    """A string from `values`; its pattern says the same as its enum."""
    return fields.String(validate=[validate.Length(max=max(map(len, values))), validate.OneOf(values),
                                   f.Pattern("^(?:" + "|".join(values) + ")$")],
                         metadata={"description": description, "example": values[0]}, **kwargs)


def _credential_type():
    return _enum(["public-key"], "PublicKeyCredentialType: always `public-key`.", required=True)


def _attachment():
    return _enum(["platform", "cross-platform"], "How the authenticator is attached (section 5.4.5); null or absent "
                                                 "when the browser does not say.", allow_none=True)


def ceremony_token(**kwargs):
    """The ceremony token an options endpoint answered (`ceremony`): base64url, 43 characters."""
    return fields.String(required=True, validate=[validate.Length(min=1, max=CEREMONY_MAX_LENGTH), BASE64URL],
                         metadata={"description": "`ceremony` of the options this response answers; works once, "
                                                  "for WEBAUTHN_CEREMONY_TTL seconds.", "example": CEREMONY_EXAMPLE},
                         **kwargs)


class CredentialProperties(Schema):
    """`credProps` (section 10.1.3): whether the credential is discoverable, when the client knows."""

    rk = f.boolean()


class ClientExtensionResults(Schema):
    """AuthenticationExtensionsClientOutputsJSON: the outputs of client extensions. The options ask for none, so
    browsers send `{}`; `credProps` is taken when a browser adds it."""

    credProps = fields.Nested(CredentialProperties)


class AuthenticatorAttestationResponseJSON(Schema):
    """The `response` of a RegistrationResponseJSON (section 5.2.1)."""

    clientDataJSON = base64url(CLIENT_DATA_MAX_LENGTH, "The client data (JSON, UTF-8),", "eyJ0eXBlIjoid2ViYXV0aG4u"
                               "Y3JlYXRlIiwiY2hhbGxlbmdlIjoiQWdJQyIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6NTAwMCJ9",
                               required=True)
    attestationObject = base64url(
        ATTESTATION_MAX_LENGTH, "The attestation object (CBOR, section 6.5),",
        "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YViUSZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NFAAAAAQAAAAAAAAAAAAAAAAAA"
        "AAAAEBs7AtUtMWKCTpcLGUF7vxylAQIDJiABIVggI0IUstVesryJ0elVxHIfq8bjiPjgxgcuQxASZUORZtsiWCAkHlYvd6-H7oF_ao9DEl9J"
        "XPTCR_20ge36xTyqk-5Xlw", required=True)
    transports = fields.List(
        fields.String(validate=[validate.Length(min=1, max=32), f.Pattern(r"^[a-z0-9-]+$")]),
        validate=validate.Length(max=TRANSPORTS_MAX_ITEMS),
        metadata={"description": "AuthenticatorTransport hints (section 5.8.4: `internal`, `hybrid`, `usb`, `nfc`, "
                                 "`ble`, `smart-card`); values this server does not know are ignored.",
                  "example": ["internal", "hybrid"]})
    publicKeyAlgorithm = fields.Integer(validate=validate.Range(min=-(2**31), max=2**31 - 1),
                                        metadata={"description": "COSE algorithm of the key (-7: ES256).",
                                                  "example": -7})
    publicKey = base64url(PUBLIC_KEY_MAX_LENGTH, "The public key (SubjectPublicKeyInfo, DER),",
                          "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEjwAYLb6WnOwkNI0AOaw2aGF0DSiGMW0mRvrxWYaUAvWMduLhTF656u"
                          "bVA4hpVgYkFqueF3rfglYykt-57Vqb8A")
    authenticatorData = base64url(AUTHENTICATOR_DATA_MAX_LENGTH, "The authenticator data (section 6.1),",
                                  "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NFAAAAAQ")


class RegistrationResponseJSON(Schema):
    """What `navigator.credentials.create()` resolved to, as `PublicKeyCredential.toJSON()` writes it."""

    id = base64url(CREDENTIAL_ID_MAX_LENGTH, "The credential ID,", CREDENTIAL_ID_EXAMPLE, required=True)
    rawId = base64url(CREDENTIAL_ID_MAX_LENGTH, "The credential ID again (the same text as `id`),",
                      CREDENTIAL_ID_EXAMPLE, required=True)
    type = _credential_type()
    response = fields.Nested(AuthenticatorAttestationResponseJSON, required=True)
    authenticatorAttachment = _attachment()
    clientExtensionResults = fields.Nested(ClientExtensionResults, load_default=dict)


class AuthenticatorAssertionResponseJSON(Schema):
    """The `response` of an AuthenticationResponseJSON (section 5.2.2)."""

    clientDataJSON = base64url(CLIENT_DATA_MAX_LENGTH, "The client data (JSON, UTF-8),", "eyJ0eXBlIjoid2ViYXV0aG4u"
                               "Z2V0IiwiY2hhbGxlbmdlIjoiQXdNRCIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6NTAwMCJ9",
                               required=True)
    authenticatorData = base64url(AUTHENTICATOR_DATA_MAX_LENGTH, "The authenticator data (section 6.1),",
                                  "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAg", required=True)
    signature = base64url(SIGNATURE_MAX_LENGTH, "The assertion signature,",
                          "MEYCIQDIA1D623b7s5njcO_JiEMXkQcxH6sukfqG4fMTLbr5_AIhAIsKERLBsQ2_r105IfsRhtr22fcw0DZvNvk_KQX"
                          "vb3h6", required=True)
    userHandle = base64url(USER_HANDLE_MAX_LENGTH, "The user handle the credential was registered with (absent or "
                                                   "null only for a credential that is not discoverable),",
                           "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE", allow_none=True)


class AuthenticationResponseJSON(Schema):
    """What `navigator.credentials.get()` resolved to, as `PublicKeyCredential.toJSON()` writes it."""

    id = base64url(CREDENTIAL_ID_MAX_LENGTH, "The credential ID,", CREDENTIAL_ID_EXAMPLE, required=True)
    rawId = base64url(CREDENTIAL_ID_MAX_LENGTH, "The credential ID again (the same text as `id`),",
                      CREDENTIAL_ID_EXAMPLE, required=True)
    type = _credential_type()
    response = fields.Nested(AuthenticatorAssertionResponseJSON, required=True)
    authenticatorAttachment = _attachment()
    clientExtensionResults = fields.Nested(ClientExtensionResults, load_default=dict)


REGISTRATION_EXAMPLE = {
    "id": CREDENTIAL_ID_EXAMPLE, "rawId": CREDENTIAL_ID_EXAMPLE, "type": "public-key",
    "authenticatorAttachment": "platform", "clientExtensionResults": {},
    "response": {"clientDataJSON": AuthenticatorAttestationResponseJSON().fields["clientDataJSON"]
                 .metadata["example"],
                 "attestationObject": AuthenticatorAttestationResponseJSON().fields["attestationObject"]
                 .metadata["example"], "transports": ["internal", "hybrid"], "publicKeyAlgorithm": -7}}
AUTHENTICATION_EXAMPLE = {
    "id": CREDENTIAL_ID_EXAMPLE, "rawId": CREDENTIAL_ID_EXAMPLE, "type": "public-key",
    "authenticatorAttachment": "platform", "clientExtensionResults": {},
    "response": {name: AuthenticatorAssertionResponseJSON().fields[name].metadata["example"]
                 for name in ("clientDataJSON", "authenticatorData", "signature", "userHandle")}}


def registration_response(**kwargs):
    return fields.Nested(RegistrationResponseJSON, metadata={
        "description": "`credential.toJSON()` of the credential `navigator.credentials.create()` made with the "
                       "options (WebAuthn Level 3 RegistrationResponseJSON).", "example": REGISTRATION_EXAMPLE},
        **kwargs)


def authentication_response(**kwargs):
    return fields.Nested(AuthenticationResponseJSON, metadata={
        "description": "`credential.toJSON()` of the credential `navigator.credentials.get()` returned with the "
                       "options (WebAuthn Level 3 AuthenticationResponseJSON).", "example": AUTHENTICATION_EXAMPLE},
        **kwargs)


# --- requests --------------------------------------------------------------------------------------------------------

class PasskeyCreate(Schema):
    """POST /users/me/passkeys body: the registration ceremony's answer and a name for the passkey."""

    ceremony = ceremony_token()
    name = f.one_line_text(PASSKEY_NAME_MAX_LENGTH, "MacBook Touch ID", required=True)
    credential = registration_response(required=True)


class PasskeySignIn(Schema):
    """POST /auth/passkey body: the sign-in ceremony's answer."""

    ceremony = ceremony_token()
    credential = authentication_response(required=True)


class MfaPasskeyOptionsRequest(Schema):
    """POST /auth/mfa/passkey/options body."""

    mfa_token = mfa_token()


class MfaPasskeyComplete(Schema):
    """POST /auth/mfa/passkey body: the pending sign-in and the passkey's answer to its ceremony."""

    mfa_token = mfa_token()
    ceremony = ceremony_token()
    credential = authentication_response(required=True)


# --- responses -------------------------------------------------------------------------------------------------------

class WebAuthnOptions(fields.Dict):
    """py_webauthn options (PublicKeyCredentialCreationOptions or ...RequestOptions) written in their JSON form
    (WebAuthn Level 3 section 5.1: binary members as base64url). Output only."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else options_to_json_dict(value)


def _ceremony_out():
    return fields.String(attribute="token", required=True, metadata={
        "description": "The ceremony token: send it back with the browser's answer. Works once, for "
                       "WEBAUTHN_CEREMONY_TTL seconds.", "example": CEREMONY_EXAMPLE})


class PasskeyCreationOptions(Schema):
    """A registration ceremony: its token and the options for `navigator.credentials.create()`."""

    ceremony = _ceremony_out()
    public_key = WebAuthnOptions(attribute="options", required=True, metadata={
        "description": "PublicKeyCredentialCreationOptionsJSON (WebAuthn Level 3 5.4): pass it to "
                       "`navigator.credentials.create({publicKey: "
                       "PublicKeyCredential.parseCreationOptionsFromJSON(public_key)})`. Asks for a discoverable "
                       "credential with user verification, and excludes the account's passkeys.",
        "example": {"rp": {"name": "Gatehouse", "id": "localhost"},
                    "user": {"id": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE", "name": "ada@example.com",
                             "displayName": "Ada Lovelace"},
                    "challenge": "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBA"
                                 "QEBAQ",
                    "pubKeyCredParams": [{"type": "public-key", "alg": -8}, {"type": "public-key", "alg": -7},
                                         {"type": "public-key", "alg": -257}],
                    "timeout": 300000, "excludeCredentials": [],
                    "authenticatorSelection": {"residentKey": "required", "requireResidentKey": True,
                                               "userVerification": "required"},
                    "attestation": "none"}})


class PasskeyRequestOptions(Schema):
    """A sign-in ceremony: its token and the options for `navigator.credentials.get()`."""

    ceremony = _ceremony_out()
    public_key = WebAuthnOptions(attribute="options", required=True, metadata={
        "description": "PublicKeyCredentialRequestOptionsJSON (WebAuthn Level 3 5.5): pass it to "
                       "`navigator.credentials.get({publicKey: "
                       "PublicKeyCredential.parseRequestOptionsFromJSON(public_key)})`. Requires user "
                       "verification; `allowCredentials` is empty for a usernameless sign-in and lists the "
                       "account's passkeys for a second factor.",
        "example": {"challenge": "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM", "timeout": 300000,
                    "rpId": "localhost", "allowCredentials": [], "userVerification": "required"}})


class PasskeyPublic(Schema):
    """A passkey of the caller: never its key or credential ID. Output only: every field is always sent."""

    id = fields.Integer(required=True, metadata={"example": 1})
    name = fields.String(required=True, metadata={"example": "MacBook Touch ID"})
    created_at = f.UtcIsoDateTime(required=True, metadata={"example": "2026-01-01T12:00:00+00:00"})
    last_used_at = f.UtcIsoDateTime(required=True, allow_none=True, metadata={
        "example": "2026-01-02T08:30:00+00:00", "description": "The last sign-in with it; null until then."})
    backed_up = fields.Boolean(required=True, metadata={
        "example": True, "description": "The credential is synced (backed up) by its provider, so it survives the "
                                        "loss of the device (the BS flag, WebAuthn Level 3 6.1)."})


class PasskeyList(Schema):
    """The caller's passkeys, oldest first (a handful: no pagination)."""

    items = fields.Nested(PasskeyPublic, many=True, required=True)


passkey_create = PasskeyCreate()
passkey_sign_in = PasskeySignIn()
mfa_passkey_options_request = MfaPasskeyOptionsRequest()
mfa_passkey_complete = MfaPasskeyComplete()
passkey_creation_options = PasskeyCreationOptions()
passkey_request_options = PasskeyRequestOptions()
passkey_public = PasskeyPublic()
passkey_list = PasskeyList()
