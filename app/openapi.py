"""The OpenAPI (Swagger 2.0) document at /swagger/ and Swagger UI at /swagger-ui/, via flask-apispec."""
import flask
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask_apispec import FlaskApiSpec
from injector import get_bindings

from app.controllers import iter_resources
from app.controllers.parsing import parser

API_TITLE = "Gatehouse"
API_VERSION = "1.0.0"


def configure_openapi(app):
    """Set the flask-apispec configuration; call before the views run."""
    app.config["APISPEC_WEBARGS_PARSER"] = parser
    app.config["APISPEC_SPEC"] = APISpec(
        title=API_TITLE,
        version=API_VERSION,
        openapi_version="2.0",  # flask-apispec's OpenAPI 3 output is invalid (shared/STACK_NOTES.md)
        plugins=[MarshmallowPlugin()],
        info={"description": "User accounts, authentication and roles. Errors are RFC 9457 problem details."},
        securityDefinitions={"bearerAuth": {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "`Bearer <access_token>` from POST /api/v1/auth/login (RFC 6750)"}},
        produces=["application/json", "application/problem+json"],
        consumes=["application/json"],
    )


def register_openapi(app, injector):
    """Document every resource. Call after FlaskInjector is created: flask-apispec instantiates each resource,
    so its constructor arguments come from the injector."""
    docs = FlaskApiSpec(app)  # per app: a module-level instance replays old registrations
    for blueprint, endpoint, resource in iter_resources():
        kwargs = {name: injector.get(dep) for name, dep in get_bindings(resource.__init__).items()}
        docs.register(resource, endpoint=endpoint, blueprint=blueprint, resource_class_kwargs=kwargs)
    # FlaskInjector wraps Jinja globals, which breaks Flask 3's annotated url_for in the Swagger UI template
    # (flask_injector issues #78/#82): put the originals back.
    app.jinja_env.globals.update(url_for=app.url_for, get_flashed_messages=flask.get_flashed_messages)
    return docs
