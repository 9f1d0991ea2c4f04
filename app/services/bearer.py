"""Bearer authentication (RFC 6750): who a bearer token speaks for and which scopes it carries, whatever kind it is.

- A sign-in session's access token (app/services/tokens.py): its user, every scope (`scopes` None), its session.
- A personal access token (app/services/personal_tokens.py): its owner, the token's scopes, no session.
- A service account's access token from the client credentials grant (app/services/service_accounts.py): a
  ServicePrincipal, the scopes granted, no session.

Roles still apply to all three (a token never does more than its owner may); scopes narrow them further.
"""
from dataclasses import dataclass

from injector import inject

from app.entities.scope import parse_scopes
from app.services.activity import ActivityService
from app.services.audit import NO_CLIENT
from app.services.personal_tokens import TOKEN_PREFIX, PersonalTokenService
from app.services.service_accounts import ServiceAccountService
from app.services.tokens import AccessTokenService


@dataclass(frozen=True, slots=True)
class Bearer:
    """An authenticated bearer token. `user`: a UserRow, or a ServicePrincipal; `scopes`: a frozenset of Scope, or
    None for every scope (a sign-in session); `session_id`: the sign-in session, or None; `credential`: how the
    audit trail names a token that is not a sign-in session ("personal_access_token:<id>",
    "service_account:<client_id>"), else None."""

    user: object
    scopes: frozenset | None
    session_id: int | None = None
    credential: str | None = None


class BearerService:
    """Authenticates bearer tokens of every kind. Stateless: bind as singleton."""

    @inject
    def __init__(self, tokens: AccessTokenService, personal_tokens: PersonalTokenService,
                 service_accounts: ServiceAccountService, activity: ActivityService):
        self.tokens = tokens
        self.personal_tokens = personal_tokens
        self.service_accounts = service_accounts
        self.activity = activity

    def authenticate(self, token, client=NO_CLIENT):
        """The Bearer `token` stands for, or None when it is not a live token of any kind. Records the use of a
        session or personal access token (at most once a minute, app/services/activity.py) from `client`."""
        if token.startswith(TOKEN_PREFIX):
            use = self.personal_tokens.verify(token)
            if use is None:
                return None
            self.activity.recorded(self.activity.personal_token_used, use, client)
            return Bearer(use.user, parse_scopes(use.scope), None, f"personal_access_token:{use.token_id}")
        claims = self.tokens.claims(token)
        if claims is not None:
            found = self.tokens.user_for(claims)
            if found is None:
                return None
            user, last_used_at = found
            self.activity.recorded(self.activity.session_used, claims.session_id, last_used_at, client)
            return Bearer(user, None, claims.session_id)
        principal = self.service_accounts.verify(token)
        if principal is None:
            return None
        return Bearer(principal, principal.scopes, None, f"service_account:{principal.client_id}")
