"""Passkeys: WebAuthn Level 3 public key credentials (https://www.w3.org/TR/webauthn-3/), through py_webauthn.

- **Ceremonies.** Each ceremony starts with options (`registration_options`, `sign_in_options`,
  `second_factor_options`) and a ceremony token: WEBAUTHN_CEREMONY_TTL seconds of life, stored as its SHA-256
  digest with the raw challenge (WebAuthnCeremony). Finishing one deletes it, whether the response verifies or not,
  so every challenge is answered once (section 13.4.3).
- **Registration** (section 7.1) needs a discoverable credential (`residentKey: "required"`) made with user
  verification (`userVerification: "required"`), leaves out the account's existing credentials
  (`excludeCredentials`), and takes "none" attestation: the credential's public key is what is kept, not who made
  the authenticator. The WebAuthn user handle (`user.id`, section 14.6.1) is 32 random bytes, the same for all of an
  account's passkeys (a new account's first passkey draws it). A registration challenge is 32 random bytes followed
  by that user handle, so finishing stores exactly the handle the authenticator was given, whatever happened to the
  account's other passkeys meanwhile.
- **Authentication** (section 7.2) needs user verification: a passkey is something you have and something you know
  or are, so a sign-in with one is of class "aal2" (NIST SP 800-63B AAL2). Sign-in is usernameless: the options name
  no credential and the authenticator answers with its user handle, which must be the one the credential was
  registered with (step 6). The signature counter (section 6.1.1) must grow when either side has counted: a count
  that does not is a cloned authenticator and is refused. As a second factor (after a password or a provider), the
  options list the account's credentials (`allowCredentials`) and the ceremony is bound to that account.
"""
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from flask import Config
from injector import inject
from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from app.entities import AuditEventType
from app.entities.second_factor import CREDENTIAL_ID_MAX_BYTES, Passkey, WebAuthnCeremony
from app.entities.session import AAL2
from app.entities.types import utcnow
from app.errors import AccountGone, FactorStateConflict, InvalidMfaToken, InvalidPasskeyResponse, NotFound
from app.services.account_mail import AccountMail
from app.services.audit import NO_CLIENT, AuditService
from app.services.mfa import MfaService
from app.services.ports import Transactions, raise_refusal, unit_of_work
from app.services.random_tokens import new_token, token_digest
from app.services.sign_in import SignInService
from app.services.step_up import StepUpService

REGISTRATION, AUTHENTICATION = "registration", "authentication"  # WebAuthnCeremony.purpose
CHALLENGE_BYTES = 32  # random bytes of every challenge (section 13.4.3 asks for at least 16)
USER_HANDLE_BYTES = 32  # section 14.6.1: random, no personal data; at most 64 bytes
PUBLIC_KEY_MAX_BYTES = 1024  # the passkeys.public_key column: a COSE_Key of ES256, EdDSA or RS256 (2048-4096 bits)
TRANSPORTS_MAX_LENGTH = 128  # the passkeys.transports column
KNOWN_TRANSPORTS = tuple(transport.value for transport in AuthenticatorTransport)
PASSKEY_METHOD = "passkey"  # AuthSession.method of a passkey sign-in


@dataclass(frozen=True)
class Ceremony:
    """A started WebAuthn ceremony: `token` (the ceremony token the client sends back with the response, 43
    characters) and `options` (py_webauthn's PublicKeyCredentialCreationOptions or PublicKeyCredentialRequestOptions,
    which the client passes to navigator.credentials.create() or .get() in their JSON form)."""

    token: str
    options: object


class PasskeyService:
    """Passkey registration, listing and removal, passkey sign-in and passkeys as a second factor. Stateless apart
    from settings (WEBAUTHN_RP_ID, WEBAUTHN_RP_NAME, WEBAUTHN_ORIGINS, WEBAUTHN_CEREMONY_TTL in seconds): bind as
    singleton."""

    @inject
    def __init__(self, config: Config, transactions: Transactions, sign_in: SignInService, mfa: MfaService,
                 step_up: StepUpService, audit: AuditService, mail: AccountMail):
        self.transactions = transactions
        self.mail = mail
        self.sign_ins = sign_in
        self.mfa = mfa
        self.step_up = step_up
        self.audit = audit
        self.rp_id = config["WEBAUTHN_RP_ID"]
        self.rp_name = config["WEBAUTHN_RP_NAME"]
        self.origins = list(config["WEBAUTHN_ORIGINS"])
        self.ttl = config["WEBAUTHN_CEREMONY_TTL"]  # seconds

    # --- the caller's own passkeys ---------------------------------------------------------------------------------
    def registration_options(self, user, session_id):
        """Start registering a passkey for `user` (the caller, a UserRow) after a recent enough authentication in
        session `session_id` (StepUpService: two-factor when the account has a second factor). Returns a Ceremony
        whose options ask for a discoverable credential with user verification, excluding the account's
        credentials (section 5.4).

        Raises StepUpRequired, AccountGone.
        """
        self.step_up.require(user, session_id)

        def begin(uow):
            stored = _locked(uow, user.id)
            passkeys = uow.second_factors.passkeys(stored.id)
            handle = (base64url_to_bytes(passkeys[0].user_handle) if passkeys
                      else secrets.token_bytes(USER_HANDLE_BYTES))
            challenge = secrets.token_bytes(CHALLENGE_BYTES) + handle  # finishing reads the handle back from it
            options = generate_registration_options(
                rp_id=self.rp_id, rp_name=self.rp_name, user_id=handle, user_name=stored.email,
                user_display_name=stored.name, challenge=challenge, timeout=self.ttl * 1000,
                attestation=AttestationConveyancePreference.NONE,
                authenticator_selection=AuthenticatorSelectionCriteria(
                    resident_key=ResidentKeyRequirement.REQUIRED, require_resident_key=True,
                    user_verification=UserVerificationRequirement.REQUIRED),
                exclude_credentials=[_descriptor(passkey) for passkey in passkeys])
            return Ceremony(self._new_ceremony(uow, stored.id, REGISTRATION, challenge), options)
        return self.transactions.run(begin, "PasskeyService.registration_options")

    def register(self, user_id, session_id, ceremony_token, name, credential, client=NO_CLIENT):
        """Finish the registration ceremony `ceremony_token` of user `user_id` with `credential`, the browser's
        RegistrationResponseJSON (section 5.1, `PublicKeyCredential.toJSON()`) as a dict, verified as section 7.1
        says (challenge, origin in WEBAUTHN_ORIGINS, RP ID hash, user presence and verification, an algorithm
        py_webauthn supports, "none" or a verifiable attestation). Stores the Passkey named `name` and returns it;
        the account has a second factor from now on (`users.mfa_enabled`), and the caller's session `session_id`
        counts as two-factor authenticated now (the registration verified the user), as a TOTP confirmation does.
        Records `passkey.registered` and mails the user a notice.

        Raises InvalidPasskeyResponse (400: an unknown, expired, used or someone else's ceremony, a response that
        does not verify, a credential ID over 1023 bytes or registered already; the ceremony is used up all the
        same), AccountGone.
        """
        def finish(uow):
            user = _locked(uow, user_id)
            ceremony = self._take_ceremony(uow, ceremony_token, REGISTRATION, user.id)
            if ceremony is None:
                return InvalidPasskeyResponse(_CEREMONY_GONE)
            try:
                verified = verify_registration_response(
                    credential=credential, expected_challenge=ceremony.challenge, expected_rp_id=self.rp_id,
                    expected_origin=self.origins, require_user_verification=True)
            except Exception as error:  # py_webauthn raises many types for malformed input (binascii, cbor2, ...)
                return InvalidPasskeyResponse(_not_verified(error))
            if len(verified.credential_id) > CREDENTIAL_ID_MAX_BYTES:
                return InvalidPasskeyResponse("The credential ID is longer than 1023 bytes (WebAuthn Level 3 7.1).")
            if len(verified.credential_public_key) > PUBLIC_KEY_MAX_BYTES:
                return InvalidPasskeyResponse("The credential's public key is larger than this server keeps.")
            digest = credential_digest(verified.credential_id)
            if uow.second_factors.passkey_by_credential(digest) is not None:
                return InvalidPasskeyResponse("This credential is registered already (WebAuthn Level 3 7.1).")
            now = utcnow()
            passkey = Passkey(
                user_id=user.id, name=name, credential_id=verified.credential_id, credential_id_digest=digest,
                public_key=verified.credential_public_key, sign_count=verified.sign_count,
                user_handle=bytes_to_base64url(ceremony.challenge[CHALLENGE_BYTES:]),
                transports=_transports(credential), aaguid=verified.aaguid, backed_up=verified.credential_backed_up,
                created_at=now, last_used_at=None)
            uow.second_factors.add_passkey(passkey)
            self.mfa.sync_mfa_enabled(uow, user)
            session = uow.sessions.lock(session_id)
            if session is not None and session.user_id == user.id and not session.is_revoked:
                session.reauthenticated(AAL2, now)
            self.audit.record(uow, AuditEventType.PASSKEY_REGISTERED, user.id, client, passkey_id=passkey.id,
                              aaguid=passkey.aaguid, backed_up=passkey.backed_up)
            uow.outbox.send(self.mail.passkey_added(user, passkey.name, client))
            return passkey
        return raise_refusal(self.transactions.run(finish, "PasskeyService.register"))

    @unit_of_work
    def list(self, uow, user_id):
        """The Passkeys of `user_id`, oldest first (a list)."""
        return list(uow.second_factors.passkeys(user_id))

    def delete(self, user, session_id, passkey_id, client=NO_CLIENT):
        """Remove passkey `passkey_id` of `user` (the caller, a UserRow) after a recent enough authentication in
        session `session_id`. Its credential no longer signs in (the authenticator keeps it: the user removes it
        there). Without another passkey or TOTP, the account has no second factor any more and its recovery codes go
        (MfaService.sync_mfa_enabled). Records `passkey.deleted` and mails the user a notice.

        Raises StepUpRequired, NotFound (404: no such passkey, or someone else's), AccountGone.
        """
        self.step_up.require(user, session_id)

        def delete(uow):
            stored = _locked(uow, user.id)
            passkey = uow.entities.get(Passkey, passkey_id, lock=True)
            if passkey is None or passkey.user_id != stored.id:
                raise NotFound(f"You have no passkey with id {passkey_id}.")
            name = passkey.name  # read before the row goes
            uow.entities.delete(passkey)
            self.mfa.sync_mfa_enabled(uow, stored)
            self.audit.record(uow, AuditEventType.PASSKEY_DELETED, stored.id, client, passkey_id=passkey_id)
            uow.outbox.send(self.mail.passkey_removed(stored, name, client))
        self.transactions.run(delete, "PasskeyService.delete")

    # --- signing in with a passkey -----------------------------------------------------------------------------------
    def sign_in_options(self):
        """Start a usernameless sign-in: a Ceremony whose options name no credential (`allowCredentials` empty: the
        authenticator offers its discoverable credentials for WEBAUTHN_RP_ID) and require user verification."""
        challenge = secrets.token_bytes(CHALLENGE_BYTES)
        options = generate_authentication_options(rp_id=self.rp_id, challenge=challenge, timeout=self.ttl * 1000,
                                                  user_verification=UserVerificationRequirement.REQUIRED)
        token = self.transactions.run(lambda uow: self._new_ceremony(uow, None, AUTHENTICATION, challenge),
                                      "PasskeyService.sign_in_options")
        return Ceremony(token, options)

    def sign_in(self, ceremony_token, credential, client=NO_CLIENT):
        """Finish the usernameless sign-in `ceremony_token` with `credential`, the browser's
        AuthenticationResponseJSON (section 5.1) as a dict, verified as section 7.2 says (a registered credential,
        the user handle it was registered with, challenge, origin, RP ID hash, user presence and verification,
        signature, a growing signature counter). Returns the TokenResponse of a new session (method "passkey", class
        "aal2": no second factor is asked for); updates the passkey's counter, backup state and `last_used_at`;
        records `login.succeeded`.

        Raises InvalidPasskeyResponse (401) for an unknown, expired or used ceremony (nothing recorded: it names no
        account), and, after committing the ceremony's end and `passkey.login_failed`, for an unknown or deleted
        credential, an inactive account or a response that does not verify.
        """
        owner = self.transactions.run(lambda uow: _owner(uow, credential), "PasskeyService.sign_in.owner")

        def finish(uow):
            # The owner first (the lock order), then what is theirs: a passkey read after the lock is the latest one.
            user = None if owner is None else uow.users.lock(owner)
            ceremony = self._take_ceremony(uow, ceremony_token, AUTHENTICATION, None)
            if ceremony is None:
                return None
            if user is not None and not user.is_active:
                passkey, reason = None, "This passkey cannot sign in."
            else:
                passkey, reason = self._verify_assertion(uow, ceremony, credential, user)
            if passkey is None:
                self.audit.record(uow, AuditEventType.PASSKEY_LOGIN_FAILED, user.id if user else None, client,
                                  reason=reason[:200])
                return InvalidPasskeyResponse(reason, status=401)
            return self.sign_ins.begin(uow, user, PASSKEY_METHOD, client, acr=AAL2)
        outcome = self.transactions.run(finish, "PasskeyService.sign_in")
        if outcome is None:
            raise InvalidPasskeyResponse(_CEREMONY_GONE, status=401)
        return self.sign_ins.result(raise_refusal(outcome))

    # --- passkeys as a second factor ---------------------------------------------------------------------------------
    def second_factor_options(self, mfa_token):
        """Start answering the pending sign-in of `mfa_token` (SignInService: a first factor was right) with a
        passkey: a Ceremony bound to that account whose options list its credentials (`allowCredentials`) and
        require user verification.

        Raises InvalidMfaToken (401: unknown, expired, used or ended token; an inactive account),
        FactorStateConflict (409: the account has no passkey).
        """
        user_id = self.sign_ins.user_of(mfa_token)
        if user_id is None:
            raise InvalidMfaToken()

        def begin(uow):
            user = uow.users.lock(user_id)
            pending = uow.second_factors.challenge(token_digest(mfa_token))
            if user is None or not user.is_active or pending is None or pending.user_id != user.id \
                    or pending.expires_at <= utcnow():
                raise InvalidMfaToken()
            passkeys = uow.second_factors.passkeys(user.id)
            if not passkeys:
                raise FactorStateConflict("This account has no passkey: answer with a code (POST /api/v1/auth/mfa).")
            challenge = secrets.token_bytes(CHALLENGE_BYTES)
            options = generate_authentication_options(
                rp_id=self.rp_id, challenge=challenge, timeout=self.ttl * 1000,
                allow_credentials=[_descriptor(passkey) for passkey in passkeys],
                user_verification=UserVerificationRequirement.REQUIRED)
            return Ceremony(self._new_ceremony(uow, user.id, AUTHENTICATION, challenge), options)
        return self.transactions.run(begin, "PasskeyService.second_factor_options")

    def complete_second_factor(self, mfa_token, ceremony_token, credential, client=NO_CLIENT):
        """Finish the pending sign-in of `mfa_token` with a passkey: `credential` (AuthenticationResponseJSON as a
        dict) answering ceremony `ceremony_token` of `second_factor_options`. Returns the TokenResponse of a
        two-factor session (SignInService.complete_with: same answers, records and errors; a response that does not
        verify counts against the MFA token as a wrong code does)."""
        def proof(uow, user):
            return "passkey" if self.check_assertion(uow, ceremony_token, credential, user.id) else None
        return self.sign_ins.complete_with(mfa_token, proof, client, refusal=lambda: InvalidPasskeyResponse(
            "The passkey response does not prove this account's passkey.", status=401))

    def check_assertion(self, uow, ceremony_token, credential, user_id=None):
        """In unit of work `uow` (which locked user `user_id`, when given): the Passkey that `credential` (an
        AuthenticationResponseJSON as a dict) proves, answering authentication ceremony `ceremony_token`, as
        section 7.2 says; or None when it proves nothing. With `user_id`, the ceremony must be one of that
        account's (`second_factor_options`) and the passkey that account's; without it, a usernameless ceremony
        (`sign_in_options`) whose credential's owner is locked here, so call it before the unit of work touches any
        account (the lock order). The ceremony is used up either way; a proving passkey's counter, backup state and
        `last_used_at` are updated."""
        if user_id is not None:
            uow.users.require_lock(user_id)
            user = uow.users.lock(user_id)  # held already: no query
        else:
            owner = _owner(uow, credential)
            user = None if owner is None else uow.users.lock(owner)
        ceremony = self._take_ceremony(uow, ceremony_token, AUTHENTICATION, user_id)
        if ceremony is None:
            return None
        return self._verify_assertion(uow, ceremony, credential, user)[0]

    # --- helpers ------------------------------------------------------------------------------------------------------
    def _verify_assertion(self, uow, ceremony, credential, user):
        """(the Passkey `credential` proves for `user` (locked, or None: unknown credential), None) or (None, why
        not)."""
        digest = _credential_digest_of(credential)
        passkey = None if digest is None or user is None else uow.second_factors.passkey_by_credential(digest)
        if passkey is None or passkey.user_id != user.id:
            return None, "This passkey is not registered here (or was removed): sign in another way."
        handle = credential.get("response", {}).get("userHandle")
        if (ceremony.user_id is None and not handle) or (handle and handle != passkey.user_handle):
            # Section 7.2 step 6: a usernameless sign-in identifies the account by the user handle, which must be
            # the credential's owner's; when present otherwise, it must be too.
            return None, "The response's user handle is not the one this passkey was registered with."
        try:
            verified = verify_authentication_response(
                credential=credential, expected_challenge=ceremony.challenge, expected_rp_id=self.rp_id,
                expected_origin=self.origins, credential_public_key=passkey.public_key,
                credential_current_sign_count=passkey.sign_count, require_user_verification=True)
        except Exception as error:  # py_webauthn raises many types for malformed input (binascii, cbor2, ...)
            return None, _not_verified(error)
        passkey.sign_count = verified.new_sign_count
        passkey.backed_up = verified.credential_backed_up
        passkey.last_used_at = utcnow()
        return passkey, None

    def _new_ceremony(self, uow, user_id, purpose, challenge):
        """Store a ceremony of `purpose` for `user_id` (None: a usernameless sign-in) answering `challenge`; returns
        its token."""
        token, now = new_token(), utcnow()
        uow.entities.add(WebAuthnCeremony(user_id=user_id, purpose=purpose, token_digest=token_digest(token),
                                          challenge=challenge, created_at=now,
                                          expires_at=now + dt.timedelta(seconds=self.ttl)))
        return token

    @staticmethod
    def _take_ceremony(uow, token, purpose, user_id):
        """Use up the ceremony of `token`: deleted if it exists; returned if it is of `purpose`, for `user_id`
        (None: no account) and not expired, else None."""
        ceremony = uow.second_factors.ceremony(token_digest(token))
        if ceremony is None:
            return None
        uow.entities.delete(ceremony)
        if ceremony.purpose != purpose or ceremony.user_id != user_id or ceremony.expires_at <= utcnow():
            return None
        return ceremony


_CEREMONY_GONE = ("The ceremony is unknown, expired or already used: ask for new options and try again (a ceremony "
                  "is answered once).")


def credential_digest(credential_id):
    """The stored form of a raw credential ID (bytes): SHA-256, hex (64 characters)."""
    return hashlib.sha256(credential_id).hexdigest()


def _credential_digest_of(credential):
    """credential_digest of a response's `rawId` (base64url), or None when it does not decode."""
    try:
        return credential_digest(base64url_to_bytes(credential["rawId"]))
    except (KeyError, TypeError, ValueError):  # binascii.Error is a ValueError
        return None


def _owner(uow, credential):
    """The id of the user whose passkey the response names, or None (a plain read)."""
    digest = _credential_digest_of(credential)
    passkey = None if digest is None else uow.second_factors.passkey_by_credential(digest)
    return None if passkey is None else passkey.user_id


def _descriptor(passkey):
    """A PublicKeyCredentialDescriptor of `passkey` for excludeCredentials / allowCredentials, with its transports."""
    transports = [AuthenticatorTransport(t) for t in passkey.transports.split(",") if t in KNOWN_TRANSPORTS]
    return PublicKeyCredentialDescriptor(id=passkey.credential_id, transports=transports or None)


def _transports(credential):
    """The transports a registration response reports (`response.transports`), known ones only, comma-separated
    (section 5.8.4: unknown values are ignored)."""
    reported = credential.get("response", {}).get("transports") or []
    kept = []
    for transport in reported:
        if transport in KNOWN_TRANSPORTS and transport not in kept:
            kept.append(transport)
    return ",".join(kept)[:TRANSPORTS_MAX_LENGTH]


def _not_verified(error):
    reason = str(error) if isinstance(error, WebAuthnException) else "it is malformed"
    return f"The passkey's response does not verify: {reason}."


def _locked(uow, user_id):
    user = uow.users.lock(user_id)
    if user is None:
        raise AccountGone()
    return user

