"""Account rules (app/services/users.py) against the in-memory unit of work."""
import pytest

from app.entities import DEFAULT_ROLES, OneTimeToken, Role, User
from app.errors import EmailTaken, ReauthenticationRequired, SelfLockout, ValidationFailed, VersionMismatch
from app.services.events import UserEvents
from app.services.users import UserService
from tests.unit.support import PASSWORD, live_sessions, mailed_token, register, sign_in


def test_a_registration_stores_the_account_mails_a_hashed_token_and_is_audited(services, store):
    user = register(services, email="  Ada@Example.COM ")
    stored = store.get(User, user.id)
    assert (stored.email, stored.roles, stored.is_active, stored.email_verified) == (
        "ada@example.com", sorted(DEFAULT_ROLES), True, False)
    assert stored.password_hash.startswith("$argon2id$")
    token = mailed_token(store, "ada@example.com")
    assert [t.token_digest for t in store.all(OneTimeToken)] != [token]  # only its digest is stored
    assert store.audit_types() == ["user.registered"]


def test_a_registration_whose_events_fail_writes_and_mails_nothing(services, store):
    class Failing(UserEvents):
        def user_created(self, uow, user):
            uow.outbox.send(object())
            raise ConnectionError("event sink down")

    users = services.get(UserService)
    users.events = Failing()
    with pytest.raises(ConnectionError):
        users.create("ada@example.com", "Ada", PASSWORD)
    assert (store.all(User), store.mail, store.audit_types()) == ([], [], [])


def test_an_email_is_taken_whatever_its_case(services, store):
    register(services, email="ada@example.com")
    with pytest.raises(EmailTaken):
        register(services, email="ADA@example.com")
    assert len(store.all(User)) == 1


def test_a_password_the_policy_refuses_is_never_stored(services, store):
    with pytest.raises(ValidationFailed):
        register(services, password="ada@example.com")  # equals the email
    assert store.all(User) == []


def test_changing_the_own_password_needs_the_current_one_and_ends_every_session(services, store):
    user = register(services)
    sign_in(services)
    users = services.get(UserService)
    with pytest.raises(ReauthenticationRequired):
        users.update_me(user.id, password="a brand new passphrase", current_password="wrong guess")
    assert store.audit_types()[-1] == "login.failed"  # a password guess is audited even though nothing changed
    assert store.get(User, user.id).password_hash == user.password_hash
    assert len(live_sessions(store, user.id)) == 1

    users.update_me(user.id, password="a brand new passphrase", current_password=PASSWORD)
    stored = store.get(User, user.id)
    assert stored.token_version == user.token_version + 1  # every access token stops working
    assert live_sessions(store, user.id) == []
    assert store.audit_types()[-1] == "password.changed"
    sign_in(services, password="a brand new passphrase")


def test_every_change_moves_the_version_and_a_stale_one_is_refused(services, store):
    user = register(services)
    users = services.get(UserService)
    renamed = users.update_me(user.id, name="Ada L.", expected_versions={user.version_tag})
    assert renamed.version_tag != user.version_tag
    with pytest.raises(VersionMismatch):
        users.update_me(user.id, name="Ada K.", expected_versions={user.version_tag})
    assert store.get(User, user.id).name == "Ada L."


def test_an_admin_cannot_lock_themselves_out(services, store):
    admin = register(services, email="root@example.com", roles=[Role.USER.value, Role.ADMIN.value])
    users = services.get(UserService)
    with pytest.raises(SelfLockout):
        users.update(admin.id, admin.id, roles=[Role.USER.value])
    with pytest.raises(SelfLockout):
        users.update(admin.id, admin.id, is_active=False)
    with pytest.raises(SelfLockout):
        users.delete(admin.id, admin.id)
    assert store.get(User, admin.id).roles == sorted([Role.USER.value, Role.ADMIN.value])


@pytest.mark.parametrize(("change", "ends_sessions"), [
    ({"is_active": False}, True),
    ({"roles": []}, True),  # a role removed
    ({"roles": [Role.USER.value, Role.ADMIN.value]}, False),  # a role added: read on the next request
    ({"name": "Ada B."}, False),
])
def test_an_admins_change_ends_the_users_sessions_only_when_it_takes_rights_away(services, store, change,
                                                                                   ends_sessions):
    admin = register(services, email="root@example.com", roles=[Role.USER.value, Role.ADMIN.value])
    user = register(services)
    sign_in(services)
    services.get(UserService).update(admin.id, user.id, **change)
    assert (live_sessions(store, user.id) == []) is ends_sessions


def test_a_new_email_must_be_verified_again(services, store):
    admin = register(services, email="root@example.com", roles=[Role.ADMIN.value])
    user = register(services, email_verified_at=None)
    services.get(UserService).update(admin.id, user.id, email="Ada@Elsewhere.example")
    stored = store.get(User, user.id)
    assert (stored.email, stored.email_verified) == ("ada@elsewhere.example", False)
    assert "email.changed" in store.audit_types()


def test_deleting_a_user_takes_their_sessions_and_tokens_but_keeps_the_audit_trail(services, store):
    admin = register(services, email="root@example.com", roles=[Role.ADMIN.value])
    user = register(services)
    sign_in(services)
    services.get(UserService).delete(admin.id, user.id)
    assert store.get(User, user.id) is None
    assert live_sessions(store, user.id) == []
    assert [t for t in store.all(OneTimeToken) if t.user_id == user.id] == []
    assert store.audit_types()[-1] == "user.deleted"
