"""The deployment files agree with each other: .env.example, docker-compose.yml (docs/deployment.md)."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV_EXAMPLE = (REPO / ".env.example").read_text()
COMPOSE = (REPO / "docker-compose.yml").read_text()


def _documented_names():
    """Every NAME in .env.example, set (`NAME=value`) or commented out (`# NAME=value`)."""
    return set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE, re.M))


def test_env_example_sets_no_empty_values():
    """docker-compose passes every line of .env to the containers (env_file): `WEB_CONCURRENCY=` would reach
    gunicorn as an empty string, which it fails to parse at import (every worker crash-loops), and `BIND=` or
    `MAIL_QUEUE_PATH=` would override the image's own values. Unset settings are commented out instead."""
    empty = re.findall(r"^([A-Z][A-Z0-9_]*)=[ \t]*$", ENV_EXAMPLE, re.M)
    assert not empty, f"empty settings in .env.example (comment them out): {empty}"


def test_every_variable_the_compose_file_reads_is_documented():
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE))
    assert used
    assert not used - _documented_names(), f"not in .env.example: {sorted(used - _documented_names())}"


def test_settings_with_compose_defaults_are_not_set_by_env_example():
    """`${MAIL_SERVER:-mailpit}` is the compose default only while .env leaves MAIL_SERVER unset: a value copied from
    .env.example would silently send the mail elsewhere (Mailpit receiving nothing)."""
    defaulted = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):-", COMPOSE))
    active = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE, re.M))
    ports = {"PROXY_PORT", "MAILPIT_PORT"}  # the README's values equal the compose defaults
    assert not (defaulted & active) - ports, sorted((defaulted & active) - ports)


def test_the_app_services_take_every_setting_from_env():
    """Settings reach the app through `env_file: .env`, not a list kept in sync by hand (CORS_ORIGINS and
    OIDC_<NAME>_* never arrived that way)."""
    assert re.search(r"^x-app-service: &app-service\n(?:  .*\n)*?  env_file: \.env$", COMPOSE, re.M)
    for service in ("migrate", "app", "mailer"):
        block = re.search(rf"^  {service}:\n((?:    .*\n|\s*\n)+)", COMPOSE, re.M).group(1)
        assert "<<: *app-service" in block, service
