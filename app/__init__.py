"""Gatehouse: a layered Flask REST service for user accounts, authentication and roles.

`create_app` (app/factory.py) is imported on first use, not with the package: gunicorn's master imports
`app.runtime` (the settings parser and the JSON log line it shares with the app) and must not load the app itself,
whose workers import it after the fork so that a HUP starts them on the new release's code. (An edit to this file
alone needs a restart, not a HUP: the master holds it.)
"""

__all__ = ["create_app"]


def __getattr__(name):
    if name == "create_app":
        from app.factory import create_app
        return create_app
    raise AttributeError(f"module 'app' has no attribute {name!r}")
