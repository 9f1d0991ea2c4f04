"""Configuration classes: Dev, Test and Prod, with values from the environment (and `.env`, via python-dotenv).

Every variable is listed with a comment in `.env.example`. `config_for(name)` picks a class by the `GATEHOUSE_ENV`
value (`production` when unset: secure by default). Values are parsed by `app.runtime.EnvReader` (environs),
which gunicorn.conf.py uses too: an empty value counts as unset, and a malformed one raises ConfigurationError naming
the variable.
"""
import atexit
import logging
import os
import re
import secrets
import shutil
import tempfile

from limits import parse_many

from app.runtime import LOG_FORMATS, EnvReader, at_least

GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")  # Google documents both forms
GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"

logger = logging.getLogger(__name__)

# Placeholders that must never sign real tokens: the example file's value and common stand-ins.
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev", "development"})
MIN_SECRET_KEY_LENGTH = 32  # characters; `secrets.token_urlsafe(32)` gives 43
MIN_METRICS_TOKEN_LENGTH = 16  # characters
# argon2id parameters (memory in KiB). Production and development default to, and refuse anything below, the OWASP
# Password Storage Cheat Sheet minimum; the test suite defaults to the cheapest argon2id allows (8 KiB per lane: a few
# microseconds a hash instead of tens of milliseconds). Tests about hashing set OWASP_ARGON2 themselves.
OWASP_ARGON2 = {"ARGON2_TIME_COST": 2, "ARGON2_MEMORY_COST": 19456, "ARGON2_PARALLELISM": 1}
CHEAP_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "ARGON2_PARALLELISM": 1}

POSITIVE_SECONDS = at_least(1, "must be a positive number of seconds")


class ConfigurationError(RuntimeError):
    """A required setting is missing or unsafe; the message names the environment variable."""


DEFAULT_CONNECT_TIMEOUT = 3  # seconds: DATABASE_CONNECT_TIMEOUT
# seconds: DATABASE_STATEMENT_TIMEOUT. With the connect timeout it bounds how long a request waits for a database that
# stopped answering: max(DATABASE_STATEMENT_TIMEOUT, DATABASE_CONNECT_TIMEOUT), then a 503 problem (docs/deployment.md,
# "A database that stops answering"). Far above what the app's indexed statements take, far below gunicorn's 30 s.
DEFAULT_STATEMENT_TIMEOUT = 3
# Connect arguments that bound statements; migrations/env.py leaves them out (DDL may run for minutes).
STATEMENT_BOUND_ARGS = ("read_timeout", "write_timeout", "init_command")


def _engine_options(url, env, connect_timeout, statement_timeout):
    """SQLAlchemy engine options: no SQL parameters in logs or exception messages (they carry hashes, digests and
    emails); liveness checks and connection timeouts for server databases (`env`: the EnvReader, for
    DATABASE_POOL_RECYCLE).

    MySQL/MariaDB through mysql-connector (all values in whole seconds): `connection_timeout`
    (DATABASE_CONNECT_TIMEOUT) bounds opening a connection, handshake and login included; the
    driver then clears it, so each later wait for the server is bounded by `read_timeout` / `write_timeout`
    (DATABASE_STATEMENT_TIMEOUT; 0: unbounded). The session's row and metadata lock waits end one second earlier on
    the server (`innodb_lock_wait_timeout`, `lock_wait_timeout`: error 1205, a 503), so a lock wait is refused by
    the server rather than abandoned by the client, which would leave the server's thread waiting (up to 50 s for
    row locks by default) with the locks its transaction already holds. app/extensions.py makes a timed-out
    connection count as lost (discarded, a 503) and holds off new connections for a second; app/problems.py answers
    503 for all of these.
    """
    if url.startswith("sqlite"):
        return {"hide_parameters": True}
    options = {
        "hide_parameters": True,
        "pool_pre_ping": True,  # survives connections dropped by the server or a proxy
        "pool_recycle": env.int("DATABASE_POOL_RECYCLE", 280),  # seconds, below MySQL's wait_timeout
    }
    if "mysqlconnector" in url:
        connect_args = {"connection_timeout": connect_timeout}
        if statement_timeout > 0:
            lock_wait = max(1, statement_timeout - 1)
            connect_args.update({
                "read_timeout": statement_timeout,
                "write_timeout": statement_timeout,
                # Same names and units (whole seconds) on MariaDB 10.11 and MySQL 8.
                "init_command": f"SET SESSION innodb_lock_wait_timeout = {lock_wait}, lock_wait_timeout = {lock_wait}",
            })
        options["connect_args"] = connect_args
    return options


def unbounded_engine_options(options):
    """A copy of `_engine_options`' result without the statement bounds (read/write timeouts, lock waits): for
    schema migrations, whose DDL may legitimately run for minutes. Connecting stays bounded."""
    options = dict(options)
    if "connect_args" in options:
        options["connect_args"] = {key: value for key, value in options["connect_args"].items()
                                   if key not in STATEMENT_BOUND_ARGS}
    return options


def oidc_providers(environ):
    """OpenID Connect providers for social login, by name: {"issuers": [...], "client_id", "jwks_url"}.

    `google` is built in and enabled by GOOGLE_CLIENT_ID. Others are listed in OIDC_PROVIDERS (comma-separated
    names) and each described by OIDC_<NAME>_ISSUER, OIDC_<NAME>_CLIENT_ID and OIDC_<NAME>_JWKS_URL.
    `environ`: a mapping (os.environ when None).
    """
    env = EnvReader(environ, ConfigurationError)
    providers = {}
    if env.str("GOOGLE_CLIENT_ID"):
        providers["google"] = {"issuers": list(GOOGLE_ISSUERS), "client_id": env.str("GOOGLE_CLIENT_ID"),
                               "jwks_url": env.str("GOOGLE_JWKS_URL", GOOGLE_JWKS_URL)}
    for name in (n.strip().lower() for n in env.str("OIDC_PROVIDERS").split(",")):
        if not name:
            continue
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,23}", name):
            raise ConfigurationError(f"OIDC_PROVIDERS: {name!r} is not a valid provider name ([a-z0-9_-], 1-24)")
        prefix = f"OIDC_{name.upper().replace('-', '_')}_"
        settings = {key: env.str(prefix + key.upper()) for key in ("issuer", "client_id", "jwks_url")}
        missing = [prefix + key.upper() for key, value in settings.items() if not value]
        if missing:
            raise ConfigurationError(f"OIDC provider {name!r} needs {', '.join(missing)}")
        providers[name] = {"issuers": [settings["issuer"]], "client_id": settings["client_id"],
                           "jwks_url": settings["jwks_url"]}
    return providers


class BaseConfig:
    """Settings shared by every environment. Instances read the environment when constructed."""

    ENV_NAME = "base"
    DEFAULT_LOG_FORMAT = "json"  # one JSON object per line on stdout, for log shippers
    ARGON2_DEFAULTS = OWASP_ARGON2
    ARGON2_AT_LEAST_OWASP = True  # refuse parameters below OWASP_ARGON2
    TESTING = False
    DEBUG = False
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    PROPAGATE_EXCEPTIONS = False

    # The OpenAPI 3.1 document (also at /swagger/) and Swagger UI (app/openapi.py).
    APISPEC_SWAGGER_URL = "/openapi.json"
    APISPEC_SWAGGER_UI_URL = "/swagger-ui/"

    def __init__(self, environ=None):
        env = EnvReader(environ, ConfigurationError)
        self.SECRET_KEY = env.str("SECRET_KEY")
        self.SQLALCHEMY_DATABASE_URI = env.str("DATABASE_URL") or self.default_database_url()
        # Whole seconds (MySQL only): opening a connection; each wait for the server on an open one (0: no bound).
        self.DATABASE_CONNECT_TIMEOUT = env.int("DATABASE_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT,
                                                validate=POSITIVE_SECONDS)
        self.DATABASE_STATEMENT_TIMEOUT = env.int(
            "DATABASE_STATEMENT_TIMEOUT", DEFAULT_STATEMENT_TIMEOUT,
            validate=at_least(0, "must be a number of seconds, or 0 for no bound"))
        self.SQLALCHEMY_ENGINE_OPTIONS = _engine_options(self.SQLALCHEMY_DATABASE_URI, env,
                                                         self.DATABASE_CONNECT_TIMEOUT, self.DATABASE_STATEMENT_TIMEOUT)
        self.ACCESS_TOKEN_TTL = env.int("ACCESS_TOKEN_TTL", 900, validate=POSITIVE_SECONDS)
        self.MAX_CONTENT_LENGTH = env.int("MAX_CONTENT_LENGTH", 64 * 1024)  # bytes
        # argon2id: ARGON2_TIME_COST, ARGON2_MEMORY_COST (KiB), ARGON2_PARALLELISM.
        for name, default in self.ARGON2_DEFAULTS.items():
            setattr(self, name, env.int(name, default))
        self.LOG_LEVEL = env.str("LOG_LEVEL", "INFO").upper()
        # Origins allowed to call the API from a browser (comma-separated); empty: no CORS headers.
        self.CORS_ORIGINS = [o.strip() for o in env.str("CORS_ORIGINS").split(",") if o.strip()]
        # PATCH and DELETE without If-Match: allowed (False) or 428 Precondition Required (True).
        self.REQUIRE_IF_MATCH = env.bool("REQUIRE_IF_MATCH", False)
        # Reverse proxies in front that set X-Forwarded-For/-Proto/-Host (0: none; trust nothing forwarded).
        self.PROXY_HOPS = env.int("PROXY_HOPS", 0,
                                  validate=at_least(0, "must be 0 (no proxy) or the number of proxies in front"))
        self._read_session_settings(env)
        self._read_mail_settings(env)
        self._read_rate_limits(env)
        self.OIDC_PROVIDERS = oidc_providers(environ)
        self.OIDC_HTTP_TIMEOUT = env.int("OIDC_HTTP_TIMEOUT", 5)  # seconds, for fetching a provider's JWKS
        self.OIDC_JWKS_CACHE_TTL = env.int("OIDC_JWKS_CACHE_TTL", 3600)  # seconds
        self.OIDC_LEEWAY = env.int("OIDC_LEEWAY", 30)  # seconds of clock skew allowed on exp/iat
        self._read_observability_settings(env)
        self._read_strong_authentication_settings(env)
        self.validate()

    REQUIRE_MFA_FOR_ADMINS_DEFAULT = False

    def _read_strong_authentication_settings(self, env):
        # Earlier SECRET_KEYs, comma-separated (Flask's SECRET_KEY_FALLBACKS): TOTP secrets encrypted under one of
        # them still decrypt (app/services/secret_box.py), so SECRET_KEY can be rotated without re-enrolment.
        self.SECRET_KEY_FALLBACKS = [k.strip() for k in env.str("SECRET_KEY_FALLBACKS").split(",") if k.strip()]
        # Second factor (app/services/mfa.py): the issuer shown in authenticator apps; how long an MFA token lives
        # (seconds) and how many wrong codes end it.
        self.MFA_ISSUER = env.str("MFA_ISSUER", "Gatehouse")
        self.MFA_TOKEN_TTL = env.int("MFA_TOKEN_TTL", 300, validate=POSITIVE_SECONDS)
        self.MFA_MAX_ATTEMPTS = env.int("MFA_MAX_ATTEMPTS", 5, validate=at_least(1, "must be at least 1"))
        # Step-up (app/services/step_up.py): sensitive operations need an authentication at most this old (seconds).
        self.STEP_UP_MAX_AGE = env.int("STEP_UP_MAX_AGE", 600, validate=POSITIVE_SECONDS)
        # Admins without a second factor may only enrol one (default on in production).
        self.REQUIRE_MFA_FOR_ADMINS = env.bool("REQUIRE_MFA_FOR_ADMINS", self.REQUIRE_MFA_FOR_ADMINS_DEFAULT)
        # Passkeys (app/services/passkeys.py): the WebAuthn relying party id (the site's registrable domain) and the
        # origins (scheme://host[:port]) the browser pages that run the ceremonies are served from.
        self.WEBAUTHN_RP_ID = env.str("WEBAUTHN_RP_ID", "localhost")
        self.WEBAUTHN_RP_NAME = env.str("WEBAUTHN_RP_NAME", "Gatehouse")
        self.WEBAUTHN_ORIGINS = [o.strip() for o in env.str("WEBAUTHN_ORIGINS", "http://localhost:5000").split(",")
                                 if o.strip()]
        self.WEBAUTHN_CEREMONY_TTL = env.int("WEBAUTHN_CEREMONY_TTL", 300, validate=POSITIVE_SECONDS)
        # Personal access tokens (app/services/personal_tokens.py): the longest expiry a token may be given
        # (seconds, default 1 year), how many live tokens an account may hold, and whether a password reset (the
        # mailed link, or an admin setting the password) revokes them as deactivation and logout-all do.
        self.PAT_MAX_LIFETIME = env.int("PAT_MAX_LIFETIME", 365 * 86400, validate=POSITIVE_SECONDS)
        self.PAT_MAX_PER_USER = env.int("PAT_MAX_PER_USER", 50, validate=at_least(1, "must be at least 1"))
        self.PAT_REVOKE_ON_PASSWORD_RESET = env.bool("PAT_REVOKE_ON_PASSWORD_RESET", True)

    def _read_observability_settings(self, env):
        # Logs (docs/observability.md): "json" lines on stdout, or "text" lines (development).
        self.LOG_FORMAT = env.choice("LOG_FORMAT", self.DEFAULT_LOG_FORMAT, LOG_FORMATS)
        # Prometheus metrics at /metrics: collected and served when enabled; served to clients whose address is in
        # one of these networks, or that present METRICS_BEARER_TOKEN (when set) as a bearer token.
        self.METRICS_ENABLED = env.bool("METRICS_ENABLED", True)
        self.METRICS_ALLOWED_NETWORKS = env.networks("METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128")
        self.METRICS_BEARER_TOKEN = env.str("METRICS_BEARER_TOKEN")

    def _read_session_settings(self, env):
        self.REFRESH_TOKEN_TTL = env.int("REFRESH_TOKEN_TTL", 14 * 24 * 3600, validate=POSITIVE_SECONDS)
        self.SESSION_MAX_LIFETIME = env.int("SESSION_MAX_LIFETIME", 90 * 24 * 3600, validate=POSITIVE_SECONDS)
        self.EMAIL_VERIFICATION_TTL = env.int("EMAIL_VERIFICATION_TTL", 2 * 24 * 3600, validate=POSITIVE_SECONDS)
        self.PASSWORD_RESET_TTL = env.int("PASSWORD_RESET_TTL", 3600, validate=POSITIVE_SECONDS)

    def _read_mail_settings(self, env):
        # Links in mails: templates with {token}, pointing at the client application's pages (optional).
        self.EMAIL_VERIFICATION_URL = env.str("EMAIL_VERIFICATION_URL")
        self.PASSWORD_RESET_URL = env.str("PASSWORD_RESET_URL")
        # The Maildir queue messages are written to in each transaction; `flask send-mail` delivers it.
        # Empty: `mail-queue` in the app's instance folder.
        self.MAIL_QUEUE_PATH = env.str("MAIL_QUEUE_PATH")
        self.MAIL_DEFAULT_SENDER = env.str("MAIL_DEFAULT_SENDER", "Gatehouse <no-reply@localhost>")
        self.MAIL_SERVER = env.str("MAIL_SERVER", "localhost")
        self.MAIL_PORT = env.int("MAIL_PORT", 25)
        self.MAIL_USERNAME = env.str("MAIL_USERNAME")
        self.MAIL_PASSWORD = env.str("MAIL_PASSWORD")
        self.MAIL_USE_TLS = env.bool("MAIL_USE_TLS", False)  # STARTTLS, required when true
        self.MAIL_USE_SSL = env.bool("MAIL_USE_SSL", False)  # implicit TLS (port 465)

    def _read_rate_limits(self, env):
        # Flask-Limiter. Limits use its notation ("5/minute;20/hour"); each limited endpoint has its own buckets.
        self.RATELIMIT_ENABLED = env.bool("RATELIMIT_ENABLED", True)
        self.RATELIMIT_STORAGE_URI = env.str("RATELIMIT_STORAGE_URI", "memory://")  # redis://host:6379/0 to share
        self.RATELIMIT_STRATEGY = env.str("RATELIMIT_STRATEGY", "moving-window")
        self.RATELIMIT_HEADERS_ENABLED = False  # Retry-After goes on 429 problems only (app/problems.py)
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True  # storage down: count in memory, never fail the request
        self.RATELIMIT_PER_ADDRESS = env.str("RATELIMIT_PER_ADDRESS", "20/minute;200/hour")
        self.RATELIMIT_PER_ACCOUNT = env.str("RATELIMIT_PER_ACCOUNT", "5/minute;30/hour")

    def default_database_url(self):
        """The embedded default: a SQLite file that Flask-SQLAlchemy places in the `instance/` folder."""
        return "sqlite:///gatehouse.db"

    def validate(self):
        """Raise ConfigurationError when a setting is unusable (single numbers are checked as they are read)."""
        if "*" in self.CORS_ORIGINS:
            raise ConfigurationError("CORS_ORIGINS must list origins (https://app.example.com), not *")
        if self.MAIL_USE_TLS and self.MAIL_USE_SSL:
            raise ConfigurationError("Set at most one of MAIL_USE_TLS (STARTTLS) and MAIL_USE_SSL (implicit TLS)")
        for name in ("RATELIMIT_PER_ADDRESS", "RATELIMIT_PER_ACCOUNT"):
            try:
                parse_many(getattr(self, name))
            except ValueError:
                raise ConfigurationError(f"{name} must be like 5/minute;20/hour, got {getattr(self, name)!r}") \
                    from None
        if self.LOG_LEVEL not in logging.getLevelNamesMapping():
            raise ConfigurationError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {self.LOG_LEVEL!r}")
        if self.METRICS_BEARER_TOKEN and len(self.METRICS_BEARER_TOKEN) < MIN_METRICS_TOKEN_LENGTH:
            raise ConfigurationError(f"METRICS_BEARER_TOKEN must be at least {MIN_METRICS_TOKEN_LENGTH} random "
                                     "characters, or empty (no token accepted)")
        for origin in self.WEBAUTHN_ORIGINS:
            scheme, _, host = origin.partition("://")
            hostname = host.split(":")[0]
            if scheme not in ("https", "http") or not hostname or "/" in host:
                raise ConfigurationError(f"WEBAUTHN_ORIGINS must list origins like https://app.example.com, got "
                                         f"{origin!r}")
            if hostname != self.WEBAUTHN_RP_ID and not hostname.endswith("." + self.WEBAUTHN_RP_ID):
                raise ConfigurationError(f"WEBAUTHN_ORIGINS: {origin} is not on WEBAUTHN_RP_ID "
                                         f"{self.WEBAUTHN_RP_ID!r} or one of its subdomains (WebAuthn Level 3 5.1.3)")
        if self.ARGON2_AT_LEAST_OWASP and any(getattr(self, name) < minimum for name, minimum in OWASP_ARGON2.items()):
            raise ConfigurationError(
                "ARGON2_MEMORY_COST must be at least 19456 (KiB) and ARGON2_TIME_COST at least 2 (OWASP minimum)")


class DevConfig(BaseConfig):
    """Local development: SQLite by default; a missing SECRET_KEY gets a random one for this process only."""

    ENV_NAME = "development"
    DEFAULT_LOG_FORMAT = "text"

    def validate(self):
        super().validate()
        if self.SECRET_KEY in PLACEHOLDER_SECRETS:
            logger.warning("SECRET_KEY is not set: using a random key, tokens will not survive a restart")
            self.SECRET_KEY = secrets.token_urlsafe(32)


class TestConfig(BaseConfig):
    """The test suite: `database_url`, else `TEST_DATABASE_URL` (MySQL/MariaDB), else SQLite in memory; cheap argon2
    parameters (CHEAP_ARGON2) unless ARGON2_* are given, and no OWASP floor.

    Keyword `overrides` set any other attribute (e.g. ACCESS_TOKEN_TTL=60, or **OWASP_ARGON2)."""

    ENV_NAME = "testing"
    DEFAULT_LOG_FORMAT = "text"
    ARGON2_DEFAULTS = CHEAP_ARGON2
    ARGON2_AT_LEAST_OWASP = False
    __test__ = False  # not a pytest test class
    PROCESS_SECRET_KEY = secrets.token_urlsafe(32)  # one per test process: every test app accepts the same tokens
    TESTING = True

    def __init__(self, environ=None, database_url=None, **overrides):
        env = dict(os.environ if environ is None else environ)
        env.setdefault("SECRET_KEY", self.PROCESS_SECRET_KEY)
        env["DATABASE_URL"] = database_url or env.get("TEST_DATABASE_URL") or "sqlite://"
        env.setdefault("RATELIMIT_ENABLED", "false")  # tests of the limits turn them on
        if "MAIL_QUEUE_PATH" not in env:
            env["MAIL_QUEUE_PATH"] = tempfile.mkdtemp(prefix="mail-queue-", dir=self._process_temp_root())
        super().__init__(env)
        for key, value in overrides.items():
            setattr(self, key, value)

    _temp_root = None

    @classmethod
    def _process_temp_root(cls):
        """One temporary directory per test process, holding each test app's own mail queue; removed (with them)
        when the process exits, so that test runs leave nothing in the system's temp directory."""
        if cls._temp_root is None or not os.path.isdir(cls._temp_root):
            cls._temp_root = tempfile.mkdtemp(prefix="gatehouse-tests-")
            atexit.register(shutil.rmtree, cls._temp_root, ignore_errors=True)
        return cls._temp_root


class ProdConfig(BaseConfig):
    """Production: refuses to start without a real SECRET_KEY and an explicit DATABASE_URL."""

    ENV_NAME = "production"
    REQUIRE_MFA_FOR_ADMINS_DEFAULT = True

    def default_database_url(self):
        return ""

    def validate(self):
        super().validate()
        if self.SECRET_KEY.strip().lower() in PLACEHOLDER_SECRETS or len(self.SECRET_KEY) < MIN_SECRET_KEY_LENGTH:
            raise ConfigurationError(
                f"SECRET_KEY must be set to a random value of at least {MIN_SECRET_KEY_LENGTH} characters in "
                "production, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        if not self.SQLALCHEMY_DATABASE_URI:
            raise ConfigurationError("DATABASE_URL must be set in production")
        insecure = [o for o in self.WEBAUTHN_ORIGINS if o.startswith("http://")
                    and o.partition("://")[2].split(":")[0] not in ("localhost", "127.0.0.1")]
        if insecure:
            raise ConfigurationError(f"WEBAUTHN_ORIGINS must be https:// in production, got {insecure[0]}")


CONFIGS = {cls.ENV_NAME: cls for cls in (DevConfig, TestConfig, ProdConfig)}


# The exit status of a start that refuses its configuration: gunicorn's APP_LOAD_ERROR, so a gunicorn master stops
# ("App failed to load.") instead of starting new workers that would fail the same way.
CONFIGURATION_REFUSED = 4


def refusal_line(error):
    """The one line a start that refused its configuration prints (ConfigurationError `error`), naming the
    environment it read: "Gatehouse cannot start (GATEHOUSE_ENV=production): SECRET_KEY must be set ..."."""
    environment = os.environ.get("GATEHOUSE_ENV")
    which = f"GATEHOUSE_ENV={environment}" if environment else "GATEHOUSE_ENV unset: production"
    return f"Gatehouse cannot start ({which}): {error}"


def config_for(name=None):
    """Return a config instance for `name` (or `GATEHOUSE_ENV`): development, testing or production."""
    name = name or os.environ.get("GATEHOUSE_ENV") or "production"
    try:
        return CONFIGS[name]()
    except KeyError:
        raise ConfigurationError(f"GATEHOUSE_ENV must be one of {sorted(CONFIGS)}, got {name!r}") from None
