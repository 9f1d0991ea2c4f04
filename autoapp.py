"""WSGI entry point (`gunicorn autoapp:app`, `flask --app autoapp ...`). Settings come from the environment and
`.env`; GATEHOUSE_ENV picks the config (production when unset).

A configuration the app refuses (ConfigurationError: production without SECRET_KEY or DATABASE_URL, a malformed
value, ...) ends the process with one line on stderr instead of a traceback, whoever imports this module: a `flask`
command, a gunicorn worker, `python -c 'import autoapp'`."""
import os
import sys

from dotenv import load_dotenv

load_dotenv()

from app import create_app  # noqa: E402  (the environment must be loaded first)
from app.configs import ConfigurationError  # noqa: E402

# The exit status of a refused configuration: gunicorn's APP_LOAD_ERROR, so that a gunicorn master whose worker exits
# with it stops ("App failed to load.", exit status 4) instead of starting new workers that would fail the same way.
CONFIGURATION_REFUSED = 4

try:
    app = create_app()
except ConfigurationError as error:
    environment = os.environ.get("GATEHOUSE_ENV")
    which = f"GATEHOUSE_ENV={environment}" if environment else "GATEHOUSE_ENV unset: production"
    sys.stderr.write(f"Gatehouse cannot start ({which}): {error}\n")
    sys.stderr.flush()
    sys.exit(CONFIGURATION_REFUSED)
