"""A software WebAuthn authenticator and client for the API tests: what a browser and a platform authenticator
return from `navigator.credentials.create()` and `.get()`, as `PublicKeyCredential.toJSON()` shapes them
(RegistrationResponseJSON, AuthenticationResponseJSON: WebAuthn Level 3 section 5.1).

Credentials are ES256 (P-256, COSE algorithm -7) key pairs made with `cryptography`, discoverable (the authenticator
keeps the user handle), attested with "none" (section 8.7). Authenticator data (section 6.1) and the attestation
object (section 6.5.4) are encoded by hand with cbor2; the flags (UP, UV, BE, BS), the signature counter, the origin
and the user handle the authenticator returns can be chosen per call, to make the responses a relying party must
refuse.
"""
import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40  # authenticator data flags (section 6.1)
AAGUID = bytes(16)  # "none" attestation: an all-zero AAGUID is allowed


def b64url(data):
    """base64url without padding (RFC 4648 section 5), as WebAuthn's JSON forms use."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    """A credential the authenticator holds: its ID, private key, RP ID, user handle (bytes) and counter."""

    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    @property
    def id(self):
        """The credential ID, base64url (what the API's JSON carries)."""
        return b64url(self.credential_id)


class SoftAuthenticator:
    """A platform authenticator with user verification and discoverable credentials, plus the browser around it
    (the page's origin). `counter_step`: how much each signature advances a credential's counter (0: the
    authenticator keeps no counter, as synced passkeys do)."""

    def __init__(self, origin="http://localhost:5000", counter_step=1):
        self.origin = origin
        self.counter_step = counter_step
        self.credentials = {}

    # --- navigator.credentials.create() ----------------------------------------------------------------------------
    def create(self, options, uv=True, up=True, origin=None, backed_up=False):
        """Make a credential for PublicKeyCredentialCreationOptionsJSON `options` (a dict); returns
        (RegistrationResponseJSON dict, the Credential)."""
        rp_id = options["rp"]["id"]
        private_key = ec.generate_private_key(ec.SECP256R1())
        credential = Credential(secrets.token_bytes(16), private_key, rp_id, unb64url(options["user"]["id"]),
                                self.counter_step)
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        flags = AT | (UP if up else 0) | (UV if uv else 0) | ((BE | BS) if backed_up else 0)
        attested = AAGUID + struct.pack(">H", len(credential.credential_id)) + credential.credential_id \
            + cbor2.dumps(cose_key(private_key.public_key()))
        auth_data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) \
            + struct.pack(">I", credential.sign_count) + attested
        attestation_object = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        self.credentials[credential.credential_id] = credential
        response = {
            "id": credential.id, "rawId": credential.id, "type": "public-key",
            "authenticatorAttachment": "platform", "clientExtensionResults": {},
            "response": {"clientDataJSON": b64url(client_data), "attestationObject": b64url(attestation_object),
                         "transports": ["internal", "hybrid"], "publicKeyAlgorithm": -7,
                         "authenticatorData": b64url(auth_data)},
        }
        return response, credential

    # --- navigator.credentials.get() -------------------------------------------------------------------------------
    def get(self, options, credential=None, uv=True, up=True, origin=None, sign_count=None, user_handle=None,
            backed_up=False):
        """Sign PublicKeyCredentialRequestOptionsJSON `options` with `credential` (default: the only one for the RP
        that `allowCredentials` allows); returns AuthenticationResponseJSON. `sign_count` sets the counter to send
        (default: the credential's, advanced by `counter_step`); `user_handle` (base64url) replaces the one the
        authenticator keeps ("" leaves it out)."""
        credential = credential or self._pick(options)
        if sign_count is None:
            credential.sign_count += self.counter_step
            sign_count = credential.sign_count
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        flags = (UP if up else 0) | (UV if uv else 0) | ((BE | BS) if backed_up else 0)
        auth_data = hashlib.sha256(credential.rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", sign_count)
        signature = credential.private_key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                                ec.ECDSA(hashes.SHA256()))
        handle = b64url(credential.user_handle) if user_handle is None else user_handle
        response = {"clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                    "signature": b64url(signature)}
        if handle:
            response["userHandle"] = handle
        return {"id": credential.id, "rawId": credential.id, "type": "public-key",
                "authenticatorAttachment": "platform", "clientExtensionResults": {}, "response": response}

    def _pick(self, options):
        allowed = {unb64url(c["id"]) for c in options.get("allowCredentials", [])}
        found = [c for c in self.credentials.values() if c.rp_id == options["rpId"]
                 and (not allowed or c.credential_id in allowed)]
        assert len(found) == 1, f"{len(found)} credentials fit; pass one"
        return found[0]

    def _client_data(self, kind, challenge, origin):
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}, separators=(",", ":")).encode()


def cose_key(public_key):
    """The COSE_Key (RFC 9053) of a P-256 public key for ES256: kty EC2, alg -7, crv P-256, x, y."""
    numbers = public_key.public_numbers()
    return {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
