"""Session rules (app/services/sessions.py, RFC 9700 4.14.2 refresh token rotation) against the in-memory unit of
work."""
import pytest

from app.entities import AuthSession, User
from app.errors import AccountGone, InvalidCredentials, InvalidRefreshToken
from app.services.ports import LockOrderViolation, Transactions
from app.services.sessions import SessionService
from app.services.users import UserService
from tests.unit.support import live_sessions, register, sign_in


def test_touching_a_users_sessions_without_locking_the_user_first_is_refused(services, store):
    user = register(services)
    sessions = services.get(SessionService)
    with pytest.raises(LockOrderViolation):
        services.get(Transactions).run(lambda uow: sessions.end_all(uow, user.id, "test"))
    assert services.get(Transactions).run(
        lambda uow: uow.users.lock(user.id) and sessions.end_all(uow, user.id, "test")) == 0


def test_a_refresh_spends_the_token_and_issues_the_next_in_the_same_session(services, store):
    register(services)
    first = sign_in(services)
    sessions = services.get(SessionService)
    second = sessions.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert len(store.all(AuthSession)) == 1
    third = sessions.refresh(second.refresh_token)
    assert third.access_token


def test_a_spent_refresh_token_presented_again_ends_its_whole_family(services, store):
    user = register(services)
    first = sign_in(services)
    sessions = services.get(SessionService)
    second = sessions.refresh(first.refresh_token)
    with pytest.raises(InvalidRefreshToken):
        sessions.refresh(first.refresh_token)  # reuse: it leaked
    assert live_sessions(store, user.id) == []
    assert store.audit_types()[-1] == "refresh_token.reused"
    with pytest.raises(InvalidRefreshToken):
        sessions.refresh(second.refresh_token)  # the family is gone, the newest token too


def test_logout_ends_one_session_and_logout_all_every_one(services, store):
    user = register(services)
    one, _two = sign_in(services), sign_in(services)
    sessions = services.get(SessionService)
    claims = services.get(SessionService).tokens.claims(one.access_token)
    sessions.end(user.id, claims.session_id)
    assert len(live_sessions(store, user.id)) == 1
    with pytest.raises(InvalidRefreshToken):
        sessions.refresh(one.refresh_token)
    sessions.end_everywhere(user.id)
    assert live_sessions(store, user.id) == []
    assert store.audit_types()[-2:] == ["logout", "logout.all"]


def test_a_deleted_accounts_own_logout_is_refused_as_an_unknown_token(services, store):
    admin = register(services, email="root@example.com", roles=["admin"])
    user = register(services)
    sign_in(services)
    services.get(UserService).delete(admin.id, user.id)
    with pytest.raises(AccountGone):
        services.get(SessionService).end_everywhere(user.id)


def test_login_refuses_an_inactive_account_like_a_wrong_password_and_audits_both(services, store):
    admin = register(services, email="root@example.com", roles=["admin"])
    user = register(services)
    with pytest.raises(InvalidCredentials):
        sign_in(services, password="not the password")
    services.get(UserService).update(admin.id, user.id, is_active=False)
    with pytest.raises(InvalidCredentials):
        sign_in(services)
    assert store.audit_types().count("login.failed") == 2
    assert live_sessions(store, user.id) == []
    assert store.get(User, user.id).is_active is False
