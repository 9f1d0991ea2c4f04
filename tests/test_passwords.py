"""Hashing with the real argon2id parameters, and the password policy's common-password check
(app/services/passwords.py, list in app/data/)."""
import pytest

from app.configs import CHEAP_ARGON2
from app.errors import ValidationFailed
from app.services.passwords import COMMON_PASSWORDS_FILE, PasswordService, common_passwords
from tests.support import DEFAULT_PASSWORD

TOO_COMMON = "This password is too common."
# The real parameters (OWASP's minimum, production's default), set explicitly: the suite's apps hash cheaply
ARGON2_CONFIG = {"ARGON2_TIME_COST": 2, "ARGON2_MEMORY_COST": 19456, "ARGON2_PARALLELISM": 1}
LONG_PASSPHRASE = "quartz lantern mosaic 7 drift ember"


@pytest.fixture(scope="module")
def passwords():
    return PasswordService(ARGON2_CONFIG)


def policy_errors(passwords, password, email="someone@example.com", field="password"):
    """The policy's `{field: [messages]}` for `password` ({} when accepted)."""
    try:
        passwords.check_policy(password, email, field=field)
    except ValidationFailed as error:
        return error.errors
    return {}


def test_the_shipped_list_has_at_least_10000_lowercase_entries():
    entries = common_passwords()
    assert COMMON_PASSWORDS_FILE.is_file()
    assert isinstance(entries, frozenset)
    assert len(entries) >= 10_000
    assert all(entry == entry.strip().lower() and entry for entry in entries)


def test_the_list_is_loaded_once_per_process():
    assert common_passwords() is common_passwords()


@pytest.mark.parametrize("password", ["password1", "qwertyuiop", "iloveyou", "password123"])
def test_well_known_common_passwords_are_in_the_list(password):
    assert password in common_passwords()


@pytest.mark.parametrize("password", ["password1", "qwertyuiop", "iloveyou", "password123"])
def test_a_common_password_is_refused_with_the_message(passwords, password):
    assert policy_errors(passwords, password) == {"password": [TOO_COMMON]}


@pytest.mark.parametrize("password", ["PassWord1", "PASSWORD1", "QwertyUIOP", "  password1  ", "\tqwertyuiop\n",
                                      " PassWord1 "])
def test_case_and_surrounding_whitespace_do_not_escape_the_list(passwords, password):
    assert policy_errors(passwords, password) == {"password": [TOO_COMMON]}


def test_the_message_is_reported_under_the_given_field(passwords):
    assert policy_errors(passwords, "password1", field="new_password") == {"new_password": [TOO_COMMON]}


def test_a_short_common_password_breaks_both_rules(passwords):
    problems = policy_errors(passwords, "123456")["password"]
    assert TOO_COMMON in problems
    assert any(problem.startswith("Length must be between") for problem in problems)


@pytest.mark.parametrize("password", [LONG_PASSPHRASE, DEFAULT_PASSWORD, "password1 with more words after it"])
def test_uncommon_passwords_are_accepted(passwords, password):
    assert password.strip().lower() not in common_passwords()
    assert policy_errors(passwords, password) == {}


def test_register_with_a_common_password_answers_400_and_creates_no_user(client, users):
    response = client.post_json("/api/v1/auth/register",
                                {"email": "common@example.com", "name": "C", "password": "PassWord1"}, status=400)
    assert response.content_type == "application/problem+json"
    assert response.json["type"].endswith("validation-error")
    assert TOO_COMMON in response.json["errors"]["password"]
    assert users.count() == 0


def test_register_with_an_uncommon_password_succeeds(client, users):
    client.post_json("/api/v1/auth/register",
                     {"email": "uncommon@example.com", "name": "U", "password": LONG_PASSPHRASE}, status=201)
    assert users.count() == 1


def test_changing_to_a_common_password_is_refused(client, auth):
    user, headers = auth.user()
    response = client.patch_json("/api/v1/users/me", {"password": "qwertyuiop", "current_password": DEFAULT_PASSWORD},
                                 headers=headers, status=400)
    assert TOO_COMMON in response.json["errors"]["password"]
    auth.token(user)  # the old password still works: nothing changed


# --- hashing, with the real (OWASP) parameters: the test suite's apps default to cheap ones ---------------------------

def test_hashes_are_argon2id_with_the_configured_parameters(passwords):
    password_hash = passwords.hash(LONG_PASSPHRASE)
    assert password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify(password_hash, LONG_PASSPHRASE)
    assert not passwords.verify(password_hash, LONG_PASSPHRASE + "x")
    assert not passwords.needs_rehash(password_hash)


def test_a_hash_made_with_other_parameters_verifies_and_needs_rehashing(passwords):
    cheap = PasswordService(CHEAP_ARGON2).hash(LONG_PASSPHRASE)
    assert passwords.verify(cheap, LONG_PASSPHRASE)
    assert passwords.needs_rehash(cheap)
