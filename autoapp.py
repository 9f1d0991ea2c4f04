"""WSGI entry point (`gunicorn autoapp:app`, `flask --app autoapp ...`). Settings come from the environment and
`.env`; GATEHOUSE_ENV picks the config (production when unset)."""
from dotenv import load_dotenv

load_dotenv()

from app import create_app  # noqa: E402  (the environment must be loaded first)

app = create_app()
