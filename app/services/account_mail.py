"""The messages Gatehouse mails to account holders (`AccountMail`): the mailed tokens (email verification, password
reset) and the security notices of OWASP ASVS 5.0 6.3.7 ("users are notified after updates to authentication
details"): a password changed, set by an admin or reset; the email address changed (both addresses are told); a
second factor added or removed (TOTP, passkeys, new recovery codes, a recovery code used, an admin's reset); a
personal access token created; and, for accounts that opted in, a sign-in from a new device.

Every message is a plain-text body with an HTML alternative, rendered from `app/templates/mail/<name>.txt` and
`<name>.html` by a standalone Jinja2 environment (no Flask app or request needed: CLI commands and unit tests render
them too). The `.txt` template of a message sets its subject at the top level, after its `{% extends %}`:
`{% set subject = "..." %}`, a string literal, so the subject lives with the template, can be read without rendering
it (`subject_of`) and never carries user input. Templates extend `_layout.txt` /
`_layout.html` (the greeting) and include `_details.*` (when, from which IP address and device). HTML is
autoescaped; undefined variables are errors (StrictUndefined).

No message carries a secret (password, TOTP secret, recovery code, access or refresh token) but the verification and
reset messages, which carry their one-time token by design. Each notice says what happened, when (UTC), from which
address and device when known (not an administrator's: "by an administrator" instead), and what to do if it was not
the account holder.

Links come from `EMAIL_VERIFICATION_URL` and `PASSWORD_RESET_URL`, templates with a `{token}` placeholder pointing at
the client application's pages; without them the message carries the token ("Token: ..." line) and the API call
that redeems it.
"""
import datetime as dt
import functools
from urllib.parse import quote

from flask import Config
from injector import inject
from jinja2 import Environment, PackageLoader, StrictUndefined, nodes, select_autoescape

from app.entities.types import utcnow
from app.services.audit import NO_CLIENT
from app.services.ports import OutgoingMessage

FREE_TEXT_MAX_LENGTH = 200  # characters of a User-Agent, device or token/passkey name shown in a message

TEMPLATES = Environment(
    loader=PackageLoader("app", "templates/mail"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def utc(when):
    """`when` (an aware datetime) in UTC as "YYYY-MM-DD HH:MM:SS UTC". Raises ValueError for a naive datetime."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"a naive datetime has no known time zone: {when!r}")
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


TEMPLATES.filters["utc"] = utc


@functools.cache
def subject_of(name):
    """The subject of message `name`: the constant string its `<name>.txt` template sets at its top level
    (`{% set subject = "..." %}`). Raises jinja2.TemplateNotFound, or LookupError when the template sets none or
    sets it to something other than a string literal."""
    source, _filename, _uptodate = TEMPLATES.loader.get_source(TEMPLATES, f"{name}.txt")
    for node in TEMPLATES.parse(source).body:
        if isinstance(node, nodes.Assign) and isinstance(node.target, nodes.Name) and node.target.name == "subject":
            if isinstance(node.node, nodes.Const) and isinstance(node.node.value, str):
                return node.node.value
            raise LookupError(f"mail/{name}.txt must set `subject` to a string literal")
    raise LookupError(f"mail/{name}.txt sets no `subject`")


VERIFY_SUBJECT = subject_of("verification")
RESET_SUBJECT = subject_of("password_reset")
RECOVERY_CODE_SUBJECT = subject_of("recovery_code_used")
FACTORS_RESET_SUBJECT = subject_of("factors_reset")


class AccountMail:
    """Composes account messages (OutgoingMessage: `to`, `subject`, plain-text `body`, `html`); use cases put them in
    their unit of work's outbox, so a message is queued only if its change commits. Singleton.

    Common arguments of the notices: `user` (a User or UserRow: `email`, `name`; the message goes to `user.email`),
    `client` (the ClientInfo of the request that made the change: its IP address and User-Agent are shown; default
    unknown), `when` (an aware datetime; default now).
    """

    @inject
    def __init__(self, config: Config):
        self.verify_url = config["EMAIL_VERIFICATION_URL"]
        self.reset_url = config["PASSWORD_RESET_URL"]
        self.verify_lifetime = _duration(config["EMAIL_VERIFICATION_TTL"])
        self.reset_lifetime = _duration(config["PASSWORD_RESET_TTL"])

    # --- mailed tokens -------------------------------------------------------------------------------------------
    def verification(self, user, token):
        """The verification message for `user.email` carrying `token` (a str)."""
        return _compose("verification", user.email, user=user, lifetime=self.verify_lifetime,
                        **_action(self.verify_url, token, "POST /api/v1/auth/verify-email"))

    def password_reset(self, user, token):
        """The password reset message for `user.email` carrying `token` (a str)."""
        return _compose("password_reset", user.email, user=user, lifetime=self.reset_lifetime,
                        **_action(self.reset_url, token, "POST /api/v1/auth/password-reset/confirm"))

    # --- password and email -------------------------------------------------------------------------------------
    def password_changed(self, user, client=NO_CLIENT, by_admin=False, when=None):
        """The notice that the password of `user` changed and their sessions ended: changed by the user themselves,
        or (`by_admin`) set by an administrator, whose address is not shown."""
        return _notice("password_changed", user.email, user, NO_CLIENT if by_admin else client, when,
                       by_admin=by_admin)

    def password_reset_done(self, user, client=NO_CLIENT, when=None):
        """The notice that the password of `user` was reset with a mailed token and their sessions ended."""
        return _notice("password_reset_done", user.email, user, client, when)

    def email_changed_old_address(self, user, old_email, client=NO_CLIENT, by_admin=False, when=None):
        """The notice to `old_email` (a str: the address `user` had) that the account's address is now
        `user.email`, shown in full."""
        return _notice("email_changed_old_address", old_email, user, NO_CLIENT if by_admin else client, when,
                       old_email=old_email, new_email=user.email, by_admin=by_admin)

    def email_changed_new_address(self, user, client=NO_CLIENT, by_admin=False, when=None):
        """The notice to `user.email`, the account's new address, that mail about the account goes there now and
        how to verify it. It does not show the old address (the new one may be a stranger's typo)."""
        return _notice("email_changed_new_address", user.email, user, NO_CLIENT if by_admin else client, when,
                       new_email=user.email, by_admin=by_admin)

    # --- second factors -----------------------------------------------------------------------------------------
    def totp_enabled(self, user, client=NO_CLIENT, when=None):
        """The notice that an authenticator app (TOTP) became a second factor of `user`, with new recovery codes."""
        return _notice("totp_enabled", user.email, user, client, when)

    def totp_disabled(self, user, client=NO_CLIENT, when=None):
        """The notice that the authenticator app of `user` was removed; says whether `user.mfa_enabled` still
        (another factor is left) or not (the recovery codes went too)."""
        return _notice("totp_disabled", user.email, user, client, when, mfa_enabled=bool(user.mfa_enabled))

    def recovery_codes_regenerated(self, user, client=NO_CLIENT, when=None):
        """The notice that new recovery codes replaced the earlier ones of `user` (the codes are not in it)."""
        return _notice("recovery_codes_regenerated", user.email, user, client, when)

    def recovery_code_used(self, user, remaining, client=NO_CLIENT, when=None):
        """The notice that a recovery code of `user` stood in for the second factor; `remaining` (an int) unused
        codes are left."""
        return _notice("recovery_code_used", user.email, user, client, when, remaining=remaining)

    def passkey_added(self, user, passkey_name, client=NO_CLIENT, when=None):
        """The notice that a passkey named `passkey_name` (a str) was registered for `user`."""
        return _notice("passkey_added", user.email, user, client, when, passkey_name=_free_text(passkey_name))

    def passkey_removed(self, user, passkey_name, client=NO_CLIENT, when=None):
        """The notice that the passkey named `passkey_name` of `user` was removed; says whether `user.mfa_enabled`
        still."""
        return _notice("passkey_removed", user.email, user, client, when, passkey_name=_free_text(passkey_name),
                       mfa_enabled=bool(user.mfa_enabled))

    def factors_reset(self, user, when=None):
        """The notice that an admin removed every second factor of `user` and ended their sessions."""
        return _notice("factors_reset", user.email, user, NO_CLIENT, when)

    # --- machine credentials and sign-ins (issue 15) --------------------------------------------------------------
    def token_created(self, user, name, scopes, expires_at, client=NO_CLIENT, when=None):
        """The notice that a personal access token named `name` (a str) was created for `user`, with `scopes` (an
        iterable of str, shown in its order) and expiring at `expires_at` (an aware datetime; None: it does not
        expire). The token itself is never an argument. Raises ValueError for a naive `expires_at`."""
        return _notice("token_created", user.email, user, client, when, token_name=_free_text(name),
                       scopes=[_free_text(scope) for scope in scopes], expires_at=expires_at)

    def new_sign_in(self, user, when, ip_address, device):
        """The notice of a new sign-in to the account of `user` at `when` (an aware datetime) from `ip_address` (a
        str, or None: unknown) on `device` (a short description such as "Firefox 133 on Windows", or None:
        unknown). Raises ValueError for a naive `when`."""
        return _compose("new_sign_in", user.email, user=user, when=when, ip_address=ip_address or None,
                        device=_free_text(device))


def _compose(name, to, **context):
    """OutgoingMessage `name` to `to`: its .txt and .html templates rendered with `context` and its subject."""
    context["subject"] = subject = subject_of(name)
    return OutgoingMessage(to, subject, TEMPLATES.get_template(f"{name}.txt").render(context),
                           TEMPLATES.get_template(f"{name}.html").render(context))


def _notice(name, to, user, client, when, **context):
    """A security notice: `_compose` with `user` and the details of the change (when, IP address, device)."""
    return _compose(name, to, user=user, when=when or utcnow(), ip_address=client.ip_address or None,
                    device=_free_text(client.user_agent), **context)


def _free_text(text):
    """`text` (from a client: a User-Agent, a name) fit for a message: control characters replaced, cut to
    FREE_TEXT_MAX_LENGTH characters, surrounding blanks stripped; None for None."""
    if text is None:
        return None
    text = "".join(c if c.isprintable() else "\N{REPLACEMENT CHARACTER}" for c in text.strip())
    return text if len(text) <= FREE_TEXT_MAX_LENGTH else text[:FREE_TEXT_MAX_LENGTH - 1] + "\N{HORIZONTAL ELLIPSIS}"


def _duration(seconds):
    """A lifetime in words, in its largest whole unit: "2 days", "1 hour", "90 seconds"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def _action(url_template, token, api_call):
    """The template variables that say how to redeem `token`: `link` (the URL setting with the token in it, or
    None), `token` and `api_call`."""
    link = url_template.replace("{token}", quote(token, safe="")) if url_template else None
    return {"link": link, "token": token, "api_call": api_call}
