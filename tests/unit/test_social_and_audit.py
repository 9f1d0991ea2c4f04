"""Social sign-in's linking rules (app/services/social.py: account pre-hijacking, reassigned addresses) and the audit
trail's listeners, against the in-memory unit of work."""
import pytest

from app.entities import SocialIdentity, User
from app.errors import EmailTaken, InvalidIdToken
from app.services.audit import AuditService
from app.services.social import IdTokenVerifier, SocialLoginService
from app.services.users import UserService
from tests.unit.support import PASSWORD, live_sessions, register, sign_in


class Verifier(IdTokenVerifier):
    """Accepts any token as the claims it names: "<sub> <email>"."""

    def __init__(self):
        pass

    def verify(self, provider_name, id_token):
        sub, email = id_token.split()
        return {"sub": sub, "email": email, "email_verified": True, "name": "From Google"}


@pytest.fixture
def social(services):
    login = services.get(SocialLoginService)
    login.verifier = Verifier()
    return login


def test_a_first_social_login_creates_a_verified_account_without_a_password(social, store):
    social.login("google", "sub-1 grace@example.com")
    [user] = store.all(User)
    assert (user.email, user.name, user.password_hash, user.email_verified) == (
        "grace@example.com", "From Google", None, True)
    assert [(i.provider, i.subject, i.user_id) for i in store.all(SocialIdentity)] == [("google", "sub-1", user.id)]
    social.login("google", "sub-1 grace@example.com")  # the link signs in again, no second account
    assert len(store.all(User)) == 1


def test_linking_an_unverified_account_takes_the_pre_hijackers_password_and_sessions(services, social, store):
    squatter = register(services, email="grace@example.com")  # never proved the address
    sign_in(services, email="grace@example.com")
    social.login("google", "sub-1 grace@example.com")
    stored = store.get(User, squatter.id)
    assert (stored.password_hash, stored.email_verified) == (None, True)
    assert [s.method for s in live_sessions(store, squatter.id)] == ["social:google"]


def test_an_address_linked_to_another_subject_of_the_provider_is_not_linked_again(social, store):
    social.login("google", "sub-1 grace@example.com")
    with pytest.raises(InvalidIdToken):
        social.login("google", "sub-2 grace@example.com")  # the provider reassigned the address
    assert [i.subject for i in store.all(SocialIdentity)] == ["sub-1"]
    assert store.audit_types()[-1] == "login.failed"


def test_audit_listeners_hear_only_of_committed_events(services, store):
    heard = []
    services.get(AuditService).add_listener(lambda event_type, details: heard.append(event_type))
    register(services)
    with pytest.raises(EmailTaken):  # the second registration fails: its event is never committed
        services.get(UserService).create("ada@example.com", "Ada again", PASSWORD)
    assert heard == ["user.registered"]
