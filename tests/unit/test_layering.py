"""The layering rules the README states, checked on the source: services are written against the ports
(app/services/ports.py), never against storage or the transaction machinery, and never against the request."""
import ast
import pathlib

import pytest

SERVICES = sorted((pathlib.Path(__file__).parents[2] / "app" / "services").glob("*.py"))
# What a service must not import: the storage and transaction machinery lives behind the ports
# (app/unit_of_work.py, app/repositories.py, app/queries/), the request behind the controllers.
FORBIDDEN = ("app.extensions", "app.unit_of_work", "app.repositories", "transaction", "zope", "sqlalchemy",
             "flask_sqlalchemy")


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            if node.module == "flask":
                yield from (f"flask.{alias.name}" for alias in node.names)


@pytest.mark.parametrize("path", SERVICES, ids=lambda path: path.name)
def test_a_service_imports_no_storage_transaction_or_request(path):
    offending = [name for name in _imports(path)
                 if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
                 or name in {"flask.request", "flask.g", "flask.session"}]
    assert offending == []


def test_the_check_sees_imports():
    """The check above would pass on a parser that finds nothing: it finds what a storage module imports."""
    repositories = pathlib.Path(__file__).parents[2] / "app" / "repositories.py"
    assert {"sqlalchemy", "app.services"} <= set(_imports(repositories))
