"""HTTP controllers: flask-apispec `MethodResource`s grouped in Blueprints.

Every module of this package that lists resources is served, without a list to keep here: its `RESOURCES`, as
(rule, resource class, endpoint), under `/api/v1` (the "api" blueprint), its `UNVERSIONED_RESOURCES` at the root (the
"ops" blueprint: probes, RFC 8615 well-known documents). Modules are read in name order.
"""
import importlib
import pkgutil

from flask import Blueprint

from app.controllers import rate_limits, security
from app.services.bearer import BearerService


def _blueprints():
    """[(blueprint name, URL prefix, resources)] from every module of the package."""
    versioned, unversioned = [], []
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        versioned += getattr(module, "RESOURCES", [])
        unversioned += getattr(module, "UNVERSIONED_RESOURCES", [])
    return [("api", "/api/v1", versioned), ("ops", None, unversioned)]


BLUEPRINTS = _blueprints()


def register_blueprints(app, injector):
    """Build the blueprints (fresh per app) and register them on `app`, with its bearer authentication
    (app/controllers/security.py) and rate limits (app/controllers/rate_limits.py).

    Each resource is one instance built by `injector` that serves every request: resources are stateless (they
    hold singleton services; nothing request-scoped may be injected into them, it would be shared by every request
    and thread). Call after the injector is created (app/injection.py): FlaskInjector would otherwise wrap these
    views and build a resource per request (measured: docs/performance.md, "Per-request overheads").
    """
    security.install(app, injector.get(BearerService))
    limiter = rate_limits.install(app)
    for name, prefix, resources in BLUEPRINTS:
        blueprint = Blueprint(name, __name__, url_prefix=prefix)
        for rule, resource, endpoint in resources:
            instance = injector.create_object(resource)
            rate_limits.apply_limits(limiter, instance, injector)
            blueprint.add_url_rule(rule, view_func=instance_view(instance, endpoint))
        app.register_blueprint(blueprint)


def iter_resources():
    """Yield (blueprint name, endpoint, resource class) for every resource, for the OpenAPI document."""
    for name, _prefix, resources in BLUEPRINTS:
        for _rule, resource, endpoint in resources:
            yield name, endpoint, resource


def instance_view(instance, endpoint):
    """The view function of `endpoint`, served by `instance` (what Flask's `View.as_view` makes with
    `init_every_request = False`, for an instance built elsewhere). `view_class` and `view_instance` name them."""
    resource = type(instance)

    def view(**kwargs):
        return instance.dispatch_request(**kwargs)

    view.view_class = resource
    view.view_instance = instance
    view.__name__ = endpoint
    view.__doc__ = resource.__doc__
    view.__module__ = resource.__module__
    view.methods = resource.methods
    view.provide_automatic_options = resource.provide_automatic_options
    return view
