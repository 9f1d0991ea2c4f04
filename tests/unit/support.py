"""Helpers of the unit tests."""
import re

from app.entities import AuthSession
from app.services.auth import AuthService
from app.services.users import UserService

PASSWORD = "correct horse battery"  # noqa: S105  (a test password)


def register(services, email="ada@example.com", name="Ada", password=PASSWORD, **kwargs):
    """Create an account through UserService.create; returns the User."""
    return services.get(UserService).create(email, name, password, **kwargs)


def sign_in(services, email="ada@example.com", password=PASSWORD):
    """A password login; returns its TokenResponse."""
    return services.get(AuthService).login(email, password)


def mailed_token(store, to):
    """The token in the last message mailed to `to` (messages carry it when no link template is configured)."""
    body = [message.body for message in store.mail if message.to == to][-1]
    return re.search(r"^Token: (\S+)$", body, re.MULTILINE).group(1)


def live_sessions(store, user_id):
    return [s for s in store.all(AuthSession) if s.user_id == user_id and s.revoked_at is None]
