"""OAuth 2.0 scopes (RFC 6749 section 3.3): what a bearer token may be used for.

A login session's access token carries every scope (its user's full rights, limited by their roles as always); a
personal access token and a service account's token carry only the scopes they were given. Every operation of the
API declares the scope it needs (`app/controllers/security.py`: `requires`), and the OpenAPI document lists them
per operation under the `oauth2` security scheme.
"""
import enum


class Scope(enum.StrEnum):
    """The documented scopes. `CREDENTIALS` is held by sign-in sessions only: no personal access token or service
    account can be given it, so what manages sign-in credentials needs a person who signed in."""

    PROFILE_READ = "profile:read"
    PROFILE_WRITE = "profile:write"
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    ADMIN = "admin"
    CREDENTIALS = "credentials"

    @property
    def description(self):
        return DESCRIPTIONS[self]


DESCRIPTIONS = {
    Scope.PROFILE_READ: "Read your own account: profile, second-factor status, passkeys, sessions, tokens",
    Scope.PROFILE_WRITE: "Change your own name and resend the verification mail",
    Scope.USERS_READ: "Read the user directory",
    Scope.USERS_WRITE: "Create, change and delete users (needs the admin role)",
    Scope.ADMIN: "Administration: the audit trail, other users' tokens and sessions, service accounts, second-factor "
                 "resets (needs the admin role)",
    Scope.CREDENTIALS: "Manage sign-in credentials: password, second factors, passkeys, personal access tokens, "
                       "sessions (sign-in sessions only; never granted to a token)",
}
# Scopes a personal access token or a service account may hold; CREDENTIALS is kept for sign-in sessions.
GRANTABLE = frozenset(Scope) - {Scope.CREDENTIALS}
# Scopes that need the admin role: a personal access token may hold them only when its owner has it, and a service
# account holding one presents it (the operations check both).
ADMIN_ONLY = frozenset({Scope.USERS_WRITE, Scope.ADMIN})
# Scopes a service account may hold: the directory and administration. Not profile:* (it has no account of its
# own) nor CREDENTIALS.
SERVICE_ACCOUNT_SCOPES = frozenset({Scope.USERS_READ, Scope.USERS_WRITE, Scope.ADMIN})
SCOPE_MAX_LENGTH = 255  # the space-separated list, stored


def parse_scopes(text):
    """The scopes of an RFC 6749 section 3.3 `scope` string (space-separated, order and repetition meaningless), as
    a frozenset of Scope. Raises ValueError naming an unknown scope."""
    names = set(text.split()) if text else set()
    unknown = sorted(names - {scope.value for scope in Scope})
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}")
    return frozenset(Scope(name) for name in names)


def format_scopes(scopes):
    """The RFC 6749 `scope` string of `scopes`: sorted, space-separated."""
    return " ".join(sorted(str(scope) for scope in scopes))
