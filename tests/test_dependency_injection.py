"""How the app uses flask-injector (app/injection.py), and the flask-injector behaviour each departure rests on.

The `test_flask_injector_*` tests run flask-injector alone, on a bare Flask app: when one fails, flask-injector
changed underneath, and its message says what to do with the departure. The others check the app itself.
"""
import flask
from flask.views import MethodView
from flask_injector import FlaskInjector, RequestScope
from injector import inject, singleton

from app.controllers import iter_resources
from app.controllers.users import MeResource
from app.services.users import UserService
from tests.support import ApiClient


class Service:
    pass


def test_flask_injector_still_builds_a_class_based_view_on_every_request():
    built = []

    class View(MethodView):
        @inject
        def __init__(self, service: Service):
            built.append(service)

        def get(self):
            return "ok"

    app = flask.Flask(__name__)
    app.add_url_rule("/", view_func=View.as_view("view"))
    FlaskInjector(app=app, modules=[lambda binder: binder.bind(Service, scope=singleton)])
    client = app.test_client()
    assert [client.get("/").status_code for _ in range(3)] == [200, 200, 200]
    assert len(built) == 3, (
        "flask-injector no longer builds a view per request: serving resources from one instance per app "
        "(app/controllers/__init__.py, app/injection.py) may be unneeded; re-measure with "
        "bench/injection_overhead.py and let FlaskInjector wrap the views if it is")


def test_flask_injector_wraps_only_the_views_that_exist_when_it_is_created():
    app = flask.Flask(__name__)
    FlaskInjector(app=app)

    def later():
        return "ok"

    app.add_url_rule("/later", view_func=later)
    assert app.view_functions["later"] is later, (
        "flask-injector now wraps views registered after it: the resources' one-instance views "
        "(app/controllers/__init__.py) would be wrapped again")


def test_flask_injector_still_breaks_url_for_and_get_flashed_messages_in_templates():
    app = flask.Flask(__name__)
    app.add_url_rule("/", "index", lambda: "ok")
    FlaskInjector(app=app)
    broken = []
    with app.test_request_context("/"):
        for source in ("{{ url_for('index') }}", "{{ get_flashed_messages() }}"):
            try:
                flask.render_template_string(source)
            except Exception:  # noqa: BLE001  (TypeError, injector.UnknownProvider, ...: any failure counts)
                broken.append(source)
    assert len(broken) == 2, (
        "flask-injector no longer breaks Jinja's url_for/get_flashed_messages (upstream issues #78/#82 fixed): "
        f"still broken: {broken}; drop what app/injection.py puts back for the ones that work")


def test_the_app_serves_each_resource_from_one_instance_built_by_its_injector(app, auth, monkeypatch):
    injector = app.extensions["injector"]
    for blueprint, endpoint, resource in iter_resources():
        view = app.view_functions[f"{blueprint}.{endpoint}"]
        assert view.view_class is resource
        assert type(view.view_instance) is resource  # our view, not one FlaskInjector wrapped
    assert app.view_functions["api.me"].view_instance.users is injector.get(UserService)
    _user, headers = auth.user()

    def no_injection_per_request(*args, **kwargs):
        raise AssertionError("the injector was asked for an object while serving a request")

    def only_the_request_scope(interface, *args, **kwargs):  # FlaskInjector's own hooks prepare and clean it up
        assert interface is RequestScope, f"the injector was asked for {interface} while serving a request"
        return get(interface, *args, **kwargs)

    get = injector.get
    monkeypatch.setattr(injector, "create_object", no_injection_per_request)
    monkeypatch.setattr(injector, "get", only_the_request_scope)
    monkeypatch.setattr(injector, "call_with_injection", no_injection_per_request)
    monkeypatch.setattr(MeResource, "__init__", no_injection_per_request)
    client = ApiClient(app)
    for _ in range(2):
        client.get("/api/v1/users/me", headers=headers, status=200)  # the bearer token verified
        client.get("/health", status=200)


def test_the_app_restores_jinja_globals_and_renders_swagger_ui(app):
    assert app.jinja_env.globals["url_for"] == app.url_for
    assert app.jinja_env.globals["get_flashed_messages"] is flask.get_flashed_messages
    page = ApiClient(app).get("/swagger-ui/", status=200)
    assert 'href="/swagger-ui/swagger-ui.css"' in page.text


def test_nothing_is_bound_in_flask_injectors_request_scope(app):
    """Resources live as long as the app: a request-scoped dependency would be shared by every request. (`_bindings`
    is injector's own table; if it is renamed, look the bindings up another way.)"""
    bindings = app.extensions["injector"].binder._bindings
    assert bindings  # the table is where this test looks
    assert not [interface for interface, binding in bindings.items() if binding.scope is RequestScope]


def test_each_app_verifies_bearer_tokens_with_its_own_services(make_app, app, auth):
    """The Flask-HTTPAuth object is shared by every app in the process; each app verifies with its own injector's
    AccessTokenService, so creating another app (another SECRET_KEY) changes nothing for the first."""
    _user, headers = auth.user()
    other = make_app(SECRET_KEY="another secret key for another app, 32+ characters")
    ApiClient(other).get("/api/v1/users/me", headers=headers, status=401)
    ApiClient(app).get("/api/v1/users/me", headers=headers, status=200)
