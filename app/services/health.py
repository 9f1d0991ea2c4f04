"""Readiness checks."""
import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db

logger = logging.getLogger(__name__)


class HealthService:
    """Answers whether the service's dependencies respond."""

    def database_ready(self):
        """True when the database answers `SELECT 1` (bounded by the connect timeout); False otherwise."""
        try:
            db.session.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError as exc:
            logger.warning("database not ready: %s", exc.__class__.__name__)
            return False
