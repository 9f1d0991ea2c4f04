"""HTTP controllers: flask-apispec `MethodResource`s grouped in Blueprints.

Each module lists its `RESOURCES` as (rule, resource class, endpoint); `BLUEPRINTS` maps them to blueprints.
"""
from flask import Blueprint

from app.controllers import audit, auth, health, oauth, rate_limits, security, users  # noqa: F401  (security: callbacks)

# (blueprint name, URL prefix, resources)
BLUEPRINTS = [
    ("api", "/api/v1", auth.RESOURCES + oauth.RESOURCES + users.RESOURCES + audit.RESOURCES),
    ("ops", None, health.RESOURCES + oauth.WELL_KNOWN),
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


def bind_resources(app, injector):
    """Serve each resource from one instance built by `injector`, instead of one built per request.

    Resources are stateless (they hold only singleton services; bind nothing request-scoped into them: it would
    be shared by every request and thread), so one instance per app is enough; FlaskInjector
    would otherwise run the injector (signature inspection, binding lookups) on every request, ~40 us. Call after
    FlaskInjector is created: this replaces the view functions it wrapped. Also installs the app's rate limits on
    the instances (app/controllers/rate_limits.py).
    """
    limiter = rate_limits.install(app)
    for blueprint, endpoint, resource in iter_resources():
        instance = injector.create_object(resource)
        rate_limits.apply_limits(limiter, instance)
        app.view_functions[f"{blueprint}.{endpoint}"] = _instance_view(instance, resource)


def _instance_view(instance, resource):
    def view(**kwargs):
        return instance.dispatch_request(**kwargs)

    view.view_class = resource
    view.__name__ = resource.__name__
    view.__doc__ = resource.__doc__
    return view
