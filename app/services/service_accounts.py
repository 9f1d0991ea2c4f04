"""Service accounts and the OAuth 2.0 client credentials grant (RFC 6749 section 4.4). (Being written.)"""
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServicePrincipal:
    """Who a service account's access token speaks for: the account (`account_id`, `client_id`) and the scopes
    its token carries. Stands in for a user in controllers: `id` is None (no user), `roles` are what the scopes
    need ("admin" with `users:write` or `admin`), `mfa_enabled` is moot."""

    account_id: int
    client_id: str
    scopes: frozenset
    roles: tuple = ()
    id = None
    is_service_account = True


class ServiceAccountService:
    """Service accounts: registration, secrets, the client credentials grant, token verification. Singleton."""

    def verify(self, token):
        """The ServicePrincipal of a live service account access token, or None."""
        return None
