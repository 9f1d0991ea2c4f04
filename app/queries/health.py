"""The read side of readiness: does the database answer?"""
import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import read_connection

logger = logging.getLogger(__name__)


class DatabaseProbe:
    """Asks the database whether it answers. Stateless: bind as singleton."""

    def answers(self):
        """True when the database answers `SELECT 1` on the request's read connection; False otherwise, after at
        most DATABASE_CONNECT_TIMEOUT or DATABASE_STATEMENT_TIMEOUT seconds (MySQL) when it does not answer."""
        try:
            read_connection().execute(text("SELECT 1"))
            return True
        except SQLAlchemyError as exc:
            logger.warning("database not ready: %s", exc.__class__.__name__)
            return False
