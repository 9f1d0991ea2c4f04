"""HTTP controllers: flask-apispec `MethodResource`s grouped in Blueprints.

Each module lists its `RESOURCES` as (rule, resource class, endpoint); `BLUEPRINTS` maps them to blueprints.
"""
from flask import Blueprint

from app.controllers import auth, health, security, users  # noqa: F401  (security installs the auth callbacks)

# (blueprint name, URL prefix, resources)
BLUEPRINTS = [
    ("api", "/api/v1", auth.RESOURCES + users.RESOURCES),
    ("ops", None, health.RESOURCES),
]


def register_blueprints(app):
    """Build the blueprints (fresh per app) and register them on `app`."""
    for name, prefix, resources in BLUEPRINTS:
        blueprint = Blueprint(name, __name__, url_prefix=prefix)
        for rule, resource, endpoint in resources:
            blueprint.add_url_rule(rule, view_func=resource.as_view(endpoint))
        app.register_blueprint(blueprint)


def iter_resources():
    """Yield (blueprint name, endpoint, resource class) for every resource, for the OpenAPI document."""
    for name, _prefix, resources in BLUEPRINTS:
        for _rule, resource, endpoint in resources:
            yield name, endpoint, resource
