"""WSGI entry point (`gunicorn autoapp:app`, `flask --app autoapp ...`). Settings come from the environment and
`.env`; GATEHOUSE_ENV picks the config (production when unset).

A configuration the app refuses (ConfigurationError: production without SECRET_KEY or DATABASE_URL, a malformed
value, ...) ends the process with one line on stderr instead of a traceback, whoever imports this module: a `flask`
command, a gunicorn worker, `python -c 'import autoapp'`."""
import sys

from dotenv import load_dotenv

load_dotenv()

from app import create_app  # noqa: E402  (the environment must be loaded first)
from app.configs import CONFIGURATION_REFUSED, ConfigurationError, refusal_line  # noqa: E402

try:
    app = create_app()
except ConfigurationError as error:
    sys.stderr.write(refusal_line(error) + "\n")
    sys.stderr.flush()
    sys.exit(CONFIGURATION_REFUSED)
