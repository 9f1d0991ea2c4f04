"""Configuration classes: Dev, Test and Prod, with values from the environment (and `.env`, via python-dotenv).

Every variable is listed with a comment in `.env.example`. `config_for(name)` picks a class by the `GATEHOUSE_ENV`
value (`production` when unset: secure by default).
"""
import atexit
import ipaddress
import logging
import os
import re
import secrets
import shutil
import tempfile

from limits import parse_many

GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")  # Google documents both forms
GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"

logger = logging.getLogger(__name__)

# Placeholders that must never sign real tokens: the example file's value and common stand-ins.
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev", "development"})
MIN_SECRET_KEY_LENGTH = 32  # characters; `secrets.token_urlsafe(32)` gives 43
MIN_METRICS_TOKEN_LENGTH = 16  # characters
LOG_FORMATS = ("json", "text")


class ConfigurationError(RuntimeError):
    """A required setting is missing or unsafe; the message names the environment variable."""


def _int(environ, name, default):
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None


def _bool(environ, name, default):
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


DEFAULT_CONNECT_TIMEOUT = 3  # seconds: DATABASE_CONNECT_TIMEOUT
# seconds: DATABASE_STATEMENT_TIMEOUT. With the connect timeout it bounds how long a request waits for a database that
# stopped answering: max(DATABASE_STATEMENT_TIMEOUT, DATABASE_CONNECT_TIMEOUT), then a 503 problem (docs/deployment.md,
# "A database that stops answering"). Far above what the app's indexed statements take, far below gunicorn's 30 s.
DEFAULT_STATEMENT_TIMEOUT = 3
# Connect arguments that bound statements; migrations/env.py leaves them out (DDL may run for minutes).
STATEMENT_BOUND_ARGS = ("read_timeout", "write_timeout", "init_command")


def _engine_options(url, environ):
    """SQLAlchemy engine options: no SQL parameters in logs or exception messages (they carry hashes, digests and
    emails); liveness checks and connection timeouts for server databases.

    MySQL/MariaDB through mysql-connector (all values in whole seconds; a bad value raises ConfigurationError):
    `connection_timeout` (DATABASE_CONNECT_TIMEOUT) bounds opening a connection, handshake and login included; the
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
        "pool_recycle": _int(environ, "DATABASE_POOL_RECYCLE", 280),  # seconds, below MySQL's wait_timeout
    }
    if "mysqlconnector" in url:
        connect_args = {"connection_timeout": _int(environ, "DATABASE_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT)}
        statement_timeout = _int(environ, "DATABASE_STATEMENT_TIMEOUT", DEFAULT_STATEMENT_TIMEOUT)
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


def _networks(environ, name, default):
    """A comma-separated list of CIDR networks ("10.0.0.0/8", "::1/128"; a bare address is one host) -> a tuple of
    ipaddress networks; unset or empty: `default`; "none": no network. Raises ConfigurationError for a malformed
    network or one with host bits set (10.0.0.1/8)."""
    raw = (environ.get(name) or default).strip()
    if raw.lower() == "none":
        return ()
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError:
            raise ConfigurationError(f"{name}: {item!r} is not a network like 10.0.0.0/8 (host bits unset)") \
                from None
    return tuple(networks)


def oidc_providers(environ):
    """OpenID Connect providers for social login, by name: {"issuers": [...], "client_id", "jwks_url"}.

    `google` is built in and enabled by GOOGLE_CLIENT_ID. Others are listed in OIDC_PROVIDERS (comma-separated
    names) and each described by OIDC_<NAME>_ISSUER, OIDC_<NAME>_CLIENT_ID and OIDC_<NAME>_JWKS_URL.
    """
    providers = {}
    if environ.get("GOOGLE_CLIENT_ID"):
        providers["google"] = {"issuers": list(GOOGLE_ISSUERS), "client_id": environ["GOOGLE_CLIENT_ID"],
                               "jwks_url": environ.get("GOOGLE_JWKS_URL") or GOOGLE_JWKS_URL}
    for name in (n.strip().lower() for n in environ.get("OIDC_PROVIDERS", "").split(",")):
        if not name:
            continue
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,23}", name):
            raise ConfigurationError(f"OIDC_PROVIDERS: {name!r} is not a valid provider name ([a-z0-9_-], 1-24)")
        prefix = f"OIDC_{name.upper().replace('-', '_')}_"
        settings = {key: environ.get(prefix + key.upper(), "") for key in ("issuer", "client_id", "jwks_url")}
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
    TESTING = False
    DEBUG = False
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    PROPAGATE_EXCEPTIONS = False

    # The OpenAPI 3.1 document (also at /swagger/) and Swagger UI (app/openapi.py).
    APISPEC_SWAGGER_URL = "/openapi.json"
    APISPEC_SWAGGER_UI_URL = "/swagger-ui/"

    def __init__(self, environ=None):
        env = os.environ if environ is None else environ
        self.SECRET_KEY = env.get("SECRET_KEY", "")
        self.SQLALCHEMY_DATABASE_URI = env.get("DATABASE_URL") or self.default_database_url()
        # Whole seconds (MySQL only): opening a connection; each wait for the server on an open one (0: no bound).
        self.DATABASE_CONNECT_TIMEOUT = _int(env, "DATABASE_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT)
        self.DATABASE_STATEMENT_TIMEOUT = _int(env, "DATABASE_STATEMENT_TIMEOUT", DEFAULT_STATEMENT_TIMEOUT)
        self.SQLALCHEMY_ENGINE_OPTIONS = _engine_options(self.SQLALCHEMY_DATABASE_URI, env)
        self.ACCESS_TOKEN_TTL = _int(env, "ACCESS_TOKEN_TTL", 900)  # seconds
        self.MAX_CONTENT_LENGTH = _int(env, "MAX_CONTENT_LENGTH", 64 * 1024)  # bytes
        # argon2id parameters; the defaults are the OWASP Password Storage Cheat Sheet minimum.
        self.ARGON2_TIME_COST = _int(env, "ARGON2_TIME_COST", 2)
        self.ARGON2_MEMORY_COST = _int(env, "ARGON2_MEMORY_COST", 19456)  # KiB (19 MiB)
        self.ARGON2_PARALLELISM = _int(env, "ARGON2_PARALLELISM", 1)
        self.LOG_LEVEL = env.get("LOG_LEVEL", "INFO").upper()
        # Origins allowed to call the API from a browser (comma-separated); empty: no CORS headers.
        self.CORS_ORIGINS = [o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip()]
        # PATCH and DELETE without If-Match: allowed (False) or 428 Precondition Required (True).
        self.REQUIRE_IF_MATCH = _bool(env, "REQUIRE_IF_MATCH", False)
        # Reverse proxies in front that set X-Forwarded-For/-Proto/-Host (0: none; trust nothing forwarded).
        self.PROXY_HOPS = _int(env, "PROXY_HOPS", 0)
        self._read_session_settings(env)
        self._read_mail_settings(env)
        self._read_rate_limits(env)
        self.OIDC_PROVIDERS = oidc_providers(env)
        self.OIDC_HTTP_TIMEOUT = _int(env, "OIDC_HTTP_TIMEOUT", 5)  # seconds, for fetching a provider's JWKS
        self.OIDC_JWKS_CACHE_TTL = _int(env, "OIDC_JWKS_CACHE_TTL", 3600)  # seconds
        self.OIDC_LEEWAY = _int(env, "OIDC_LEEWAY", 30)  # seconds of clock skew allowed on exp/iat
        self._read_observability_settings(env)
        self.validate()

    def _read_observability_settings(self, env):
        # Logs (docs/observability.md): "json" lines on stdout, or "text" lines (development).
        self.LOG_FORMAT = (env.get("LOG_FORMAT") or self.DEFAULT_LOG_FORMAT).strip().lower()
        # Prometheus metrics at /metrics: collected and served when enabled; served to clients whose address is in
        # one of these networks, or that present METRICS_BEARER_TOKEN (when set) as a bearer token.
        self.METRICS_ENABLED = _bool(env, "METRICS_ENABLED", True)
        self.METRICS_ALLOWED_NETWORKS = _networks(env, "METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128")
        self.METRICS_BEARER_TOKEN = env.get("METRICS_BEARER_TOKEN", "")

    def _read_session_settings(self, env):
        self.REFRESH_TOKEN_TTL = _int(env, "REFRESH_TOKEN_TTL", 14 * 24 * 3600)  # seconds
        self.SESSION_MAX_LIFETIME = _int(env, "SESSION_MAX_LIFETIME", 90 * 24 * 3600)  # seconds
        self.EMAIL_VERIFICATION_TTL = _int(env, "EMAIL_VERIFICATION_TTL", 2 * 24 * 3600)  # seconds
        self.PASSWORD_RESET_TTL = _int(env, "PASSWORD_RESET_TTL", 3600)  # seconds

    def _read_mail_settings(self, env):
        # Links in mails: templates with {token}, pointing at the client application's pages (optional).
        self.EMAIL_VERIFICATION_URL = env.get("EMAIL_VERIFICATION_URL", "")
        self.PASSWORD_RESET_URL = env.get("PASSWORD_RESET_URL", "")
        # The Maildir queue messages are written to in each transaction; `flask send-mail` delivers it.
        # Empty: `mail-queue` in the app's instance folder.
        self.MAIL_QUEUE_PATH = env.get("MAIL_QUEUE_PATH", "")
        self.MAIL_DEFAULT_SENDER = env.get("MAIL_DEFAULT_SENDER", "Gatehouse <no-reply@localhost>")
        self.MAIL_SERVER = env.get("MAIL_SERVER", "localhost")
        self.MAIL_PORT = _int(env, "MAIL_PORT", 25)
        self.MAIL_USERNAME = env.get("MAIL_USERNAME", "")
        self.MAIL_PASSWORD = env.get("MAIL_PASSWORD", "")
        self.MAIL_USE_TLS = _bool(env, "MAIL_USE_TLS", False)  # STARTTLS, required when true
        self.MAIL_USE_SSL = _bool(env, "MAIL_USE_SSL", False)  # implicit TLS (port 465)

    def _read_rate_limits(self, env):
        # Flask-Limiter. Limits use its notation ("5/minute;20/hour"); each limited endpoint has its own buckets.
        self.RATELIMIT_ENABLED = _bool(env, "RATELIMIT_ENABLED", True)
        self.RATELIMIT_STORAGE_URI = env.get("RATELIMIT_STORAGE_URI", "memory://")  # redis://host:6379/0 to share
        self.RATELIMIT_STRATEGY = env.get("RATELIMIT_STRATEGY", "moving-window")
        self.RATELIMIT_HEADERS_ENABLED = False  # Retry-After goes on 429 problems only (app/problems.py)
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True  # storage down: count in memory, never fail the request
        self.RATELIMIT_PER_ADDRESS = env.get("RATELIMIT_PER_ADDRESS", "20/minute;200/hour")
        self.RATELIMIT_PER_ACCOUNT = env.get("RATELIMIT_PER_ACCOUNT", "5/minute;30/hour")

    def default_database_url(self):
        """The embedded default: a SQLite file that Flask-SQLAlchemy places in the `instance/` folder."""
        return "sqlite:///gatehouse.db"

    def validate(self):
        """Raise ConfigurationError when a setting is unusable."""
        if "*" in self.CORS_ORIGINS:
            raise ConfigurationError("CORS_ORIGINS must list origins (https://app.example.com), not *")
        if self.ACCESS_TOKEN_TTL <= 0:
            raise ConfigurationError("ACCESS_TOKEN_TTL must be a positive number of seconds")
        for name in ("REFRESH_TOKEN_TTL", "SESSION_MAX_LIFETIME", "EMAIL_VERIFICATION_TTL", "PASSWORD_RESET_TTL"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"{name} must be a positive number of seconds")
        if self.DATABASE_CONNECT_TIMEOUT <= 0:
            raise ConfigurationError("DATABASE_CONNECT_TIMEOUT must be a positive number of seconds")
        if self.DATABASE_STATEMENT_TIMEOUT < 0:
            raise ConfigurationError("DATABASE_STATEMENT_TIMEOUT must be a number of seconds, or 0 for no bound")
        if self.PROXY_HOPS < 0:
            raise ConfigurationError("PROXY_HOPS must be 0 (no proxy) or the number of proxies in front")
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
        if self.LOG_FORMAT not in LOG_FORMATS:
            raise ConfigurationError(f"LOG_FORMAT must be json or text, got {self.LOG_FORMAT!r}")
        if self.METRICS_BEARER_TOKEN and len(self.METRICS_BEARER_TOKEN) < MIN_METRICS_TOKEN_LENGTH:
            raise ConfigurationError(f"METRICS_BEARER_TOKEN must be at least {MIN_METRICS_TOKEN_LENGTH} random "
                                     "characters, or empty (no token accepted)")
        if self.ARGON2_MEMORY_COST < 19456 or self.ARGON2_TIME_COST < 2:
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
    """The test suite: `database_url`, else `TEST_DATABASE_URL` (MySQL/MariaDB), else SQLite in memory.

    Keyword `overrides` set any other attribute (e.g. ACCESS_TOKEN_TTL=60)."""

    ENV_NAME = "testing"
    DEFAULT_LOG_FORMAT = "text"
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


CONFIGS = {cls.ENV_NAME: cls for cls in (DevConfig, TestConfig, ProdConfig)}


def config_for(name=None):
    """Return a config instance for `name` (or `GATEHOUSE_ENV`): development, testing or production."""
    name = name or os.environ.get("GATEHOUSE_ENV") or "production"
    try:
        return CONFIGS[name]()
    except KeyError:
        raise ConfigurationError(f"GATEHOUSE_ENV must be one of {sorted(CONFIGS)}, got {name!r}") from None
