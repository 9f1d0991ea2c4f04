"""Social login: an OpenID Connect ID token from a configured provider, exchanged for Gatehouse tokens.

Verification follows OpenID Connect Core 1.0 section 3.1.3.7 with PyJWT: the signature against the provider's JWKS
(`PyJWKClient`: fetched with a timeout, cached, refetched when a new key id appears), `iss` equal to the provider's
issuer, `aud` containing our client id, `exp` and `iat` present and valid (with `OIDC_LEEWAY` seconds of clock skew),
a `sub`, and an `email` the provider marks `email_verified`.
"""
import logging
from dataclasses import dataclass

import jwt
from flask import Config
from injector import inject
from marshmallow import ValidationError, validate

from app.entities import AuditEventType, SocialIdentity
from app.entities.social_identity import SUBJECT_MAX_LENGTH
from app.entities.types import utcnow
from app.entities.user import EMAIL_MAX_LENGTH, NAME_MAX_LENGTH
from app.errors import DependencyUnavailable, EmailTaken, InvalidIdToken, ProviderNotFound
from app.services.audit import NO_CLIENT, AuditService
from app.services.ports import ConcurrentChange, Transactions
from app.services.sessions import SessionService
from app.services.sign_in import SignInService
from app.services.users import add_user, storable_email

logger = logging.getLogger(__name__)

# Asymmetric algorithms only: an ID token verified with a JWKS public key is never HMAC-signed ("none" never).
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]


@dataclass(frozen=True)
class OidcProvider:
    """A configured OpenID Connect provider: accepted `iss` values, our client id (the expected `aud`), its JWKS."""

    name: str
    issuers: tuple
    client_id: str
    jwks_url: str


class IdTokenVerifier:
    """Verifies ID tokens of the providers in `OIDC_PROVIDERS` (see app/configs.py). One JWKS client per provider,
    whose key cache lives as long as the process: bind as singleton."""

    @inject
    def __init__(self, config: Config):
        self.leeway = config["OIDC_LEEWAY"]  # seconds
        self._providers = {}
        for name, settings in config["OIDC_PROVIDERS"].items():
            provider = OidcProvider(name, tuple(settings["issuers"]), settings["client_id"], settings["jwks_url"])
            client = jwt.PyJWKClient(provider.jwks_url, cache_jwk_set=True, lifespan=config["OIDC_JWKS_CACHE_TTL"],
                                     timeout=config["OIDC_HTTP_TIMEOUT"])
            self._providers[name] = (provider, client)

    def verify(self, provider_name, id_token):
        """Return the verified claims (a dict) of `id_token` from `provider_name`.

        Raises ProviderNotFound (not configured), InvalidIdToken (malformed, unknown key, bad signature, wrong
        `iss`/`aud`, expired, no `sub`, email missing or not verified), DependencyUnavailable (JWKS unreachable).
        """
        try:
            provider, keys = self._providers[provider_name]
        except KeyError:
            raise ProviderNotFound(f"No identity provider named {provider_name!r} is configured.") from None
        try:
            try:
                key = keys.get_signing_key_from_jwt(id_token)
            except (jwt.PyJWKSetError, ValueError) as error:
                # The JWKS answered, but not a usable key set: not JSON (ValueError; a malformed token is a
                # DecodeError, never a ValueError) or no usable key (PyJWKSetError). The provider's fault, not the
                # token's: like an unreachable JWKS, not an uncaught 500.
                raise jwt.PyJWKClientConnectionError(f"unusable JWK Set ({error.__class__.__name__})") from error
            claims = jwt.decode(id_token, key, algorithms=ALGORITHMS, audience=provider.client_id,
                                issuer=provider.issuers, leeway=self.leeway,
                                options={"require": ["iss", "aud", "exp", "iat", "sub"]})
        except jwt.PyJWKClientConnectionError as error:
            logger.error("JWKS of %s unreachable: %s", provider_name, error.__class__.__name__)
            raise DependencyUnavailable(f"The {provider_name} sign-in keys cannot be fetched; try again.") from error
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as error:
            raise InvalidIdToken(f"The ID token was rejected: {_reason(error)}.") from error
        if not isinstance(claims["sub"], str) or not 0 < len(claims["sub"]) <= SUBJECT_MAX_LENGTH:
            raise InvalidIdToken("The ID token was rejected: invalid sub.")
        # Core 3.1.3.7 (3-5): a token for several audiences must name us as its authorized party. (With us as the
        # only audience, `azp` may name a sibling client of the same project: Google's hybrid Android/web apps.)
        if isinstance(claims["aud"], list) and len(claims["aud"]) > 1 and claims.get("azp") != provider.client_id:
            raise InvalidIdToken("The ID token was rejected: issued for several audiences, not authorized for us.")
        if not isinstance(claims.get("email"), str) or claims.get("email_verified") not in (True, "true"):
            raise InvalidIdToken("The ID token was rejected: the provider has not verified the email address.")
        if not _usable_email(claims["email"]):
            raise InvalidIdToken("The ID token was rejected: its email is not an address Gatehouse can use.")
        return claims


def _usable_email(email):
    """The address rules registration applies: a valid address of at most 254 characters, ASCII before the @."""
    try:
        validate.Email()(email)
    except ValidationError:
        return False
    return len(email) <= EMAIL_MAX_LENGTH and email.rpartition("@")[0].isascii()


def _reason(error):
    """A short, safe reason for the client: the exception class says which check failed, never the key."""
    return {
        jwt.ExpiredSignatureError: "expired",
        jwt.InvalidAudienceError: "wrong audience",
        jwt.InvalidIssuerError: "wrong issuer",
        jwt.InvalidSignatureError: "bad signature",
        jwt.ImmatureSignatureError: "issued in the future",
        jwt.MissingRequiredClaimError: "a required claim is missing",
    }.get(type(error), "malformed or signed with an unknown key")


class SocialLoginService:
    """Signs users in with a provider's ID token. Stateless: bind as singleton."""

    @inject
    def __init__(self, transactions: Transactions, verifier: IdTokenVerifier, sessions: SessionService,
                 sign_in: SignInService, audit: AuditService):
        self.transactions = transactions
        self.verifier = verifier
        self.sessions = sessions
        self.sign_in = sign_in
        self.audit = audit

    def login(self, provider, id_token, client=NO_CLIENT):
        """Verify `id_token` and return a new session's TokenResponse, as password login does (SecondFactorRequired
        for an account with a second factor).

        The first login of a provider account links it to the account with the same email, or creates one (no
        password, email verified). Linking to an account whose email was never verified removes its password and
        ends its sessions: whoever registered that address without proving it must not keep access (account
        pre-hijacking). An account already linked to another subject of the same provider is not linked again (an
        address the provider reassigned to someone else must not open the old owner's account). Raises
        ProviderNotFound or DependencyUnavailable (nothing written), or InvalidIdToken (a token failing
        verification, an inactive account, a refused link) after committing a `login.failed` event.
        """
        method = f"social:{provider}"
        try:
            claims = self.verifier.verify(provider, id_token)

            def sign_in(uow):
                user = self._user_for(uow, provider, claims, client)
                return self.sign_in.begin(uow, user, method, client)

            for attempt in (1, 2):  # a concurrent first login with the same email may create the account first
                try:
                    return self.sign_in.result(self.transactions.run(sign_in, "SocialLoginService.login"))
                except EmailTaken:
                    if attempt == 2:
                        raise
        except InvalidIdToken as error:
            user_id, reason = error.user_id, error.reason
            self.transactions.run(lambda uow: self.audit.record(
                uow, AuditEventType.LOGIN_FAILED, user_id, client, method=method, reason=reason),
                "SocialLoginService.login.failed")
            raise

    def _user_for(self, uow, provider, claims, client):
        """The active user the verified `claims` sign in as, linked or created as `login` describes (inside the
        unit of work, which holds the user's row lock). Raises InvalidIdToken for an inactive account or a refused
        link, changing nothing; ConcurrentChange (the unit of work runs again) when the linked account was deleted
        between finding its link and locking it."""
        identity = uow.social_identities.find(provider, claims["sub"])
        if identity is not None:
            user = uow.users.lock(identity.user_id)
            if user is None:
                raise ConcurrentChange(f"user {identity.user_id} was deleted")
            return _active(user)
        email = storable_email(claims["email"])
        user = uow.users.lock_by_email(email)
        created = user is None
        if created:
            user = add_user(uow, email, _display_name(claims), email_verified_at=utcnow())
            self.audit.record(uow, AuditEventType.USER_REGISTERED, user.id, client, method=f"social:{provider}",
                              roles=user.roles)
        else:
            _active(user)
            if uow.social_identities.has_link(user.id, provider):
                raise InvalidIdToken(f"This email belongs to an account linked to another {provider} account.",
                                     user_id=user.id, reason="linked to another subject")
            if user.email_verified_at is None:
                user.password_hash = None
                user.email_verified_at = utcnow()
                self.sessions.sign_out_everywhere(uow, user, "social_link_unverified", client,
                                                  personal_tokens=True)
        uow.social_identities.add(SocialIdentity(user_id=user.id, provider=provider, subject=claims["sub"]))
        self.audit.record(uow, AuditEventType.SOCIAL_LINKED, user.id, client, provider=provider, created=created)
        return user


def _active(user):
    if not user.is_active:
        raise InvalidIdToken("This account is deactivated.", user_id=user.id, reason="account inactive")
    return user


def _display_name(claims):
    """The provider's `name` (or the email's local part), on one line, without control characters, at most
    NAME_MAX_LENGTH characters."""
    raw = claims.get("name") if isinstance(claims.get("name"), str) else ""
    name = " ".join("".join(ch for ch in raw if ch.isprintable()).split())[:NAME_MAX_LENGTH].strip()
    return name or claims["email"].split("@")[0][:NAME_MAX_LENGTH] or "user"
