"""Gatehouse: a layered Flask REST service for user accounts, authentication and roles."""
from app.factory import create_app

__all__ = ["create_app"]
