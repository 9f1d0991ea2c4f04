"""The OpenAPI 3.1 document (/openapi.json) is the contract, checked by schemathesis (a tool we did not write)
against the app in-process over WSGI: every operation, every default check (per-response media types and headers
included), plus the stateful phase (links inferred from the schema).

Bounded for speed: CONTRACT_MAX_EXAMPLES (default 25) cases per operation (a fifth as many stateful sequences) and
CONTRACT_STATEFUL_STEPS (default 10, see below) steps per sequence. A deeper run:
CONTRACT_MAX_EXAMPLES=500 ./run_tests.sh -k contract
"""
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.support import ContractAccounts

MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "25"))
# Hypothesis caps the data one example may draw; sequences of 20 steps over this API's request bodies exceed it, so
# every example overran and hypothesis reported Unsatisfiable ("failed a .filter() or assume()"). 10 steps fit.
STATEFUL_STEPS = int(os.environ.get("CONTRACT_STATEFUL_STEPS", "10"))
HYPOTHESIS = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
pytestmark = pytest.mark.slow  # about 20 s: ./run_tests.sh -m "not slow" leaves it out
# Operations only admins may call: tested with the admin's token, the rest with a plain user's.
# Read off the document: those needing a scope only admins' tokens may hold (tests/test_scopes.py checks the document
# says what the code enforces).
ADMIN_SCOPES = {"users:write", "admin"}


def admin_operations(document):
    return {(method.upper(), path) for path, item in document["paths"].items() for method, operation in item.items()
            if any(ADMIN_SCOPES & set(scopes) for requirement in operation.get("security", [])
                   for scopes in requirement.values())}


@pytest.fixture(scope="module")
def contract_schema(app):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    accounts = ContractAccounts(app)
    admin_only = admin_operations(app.test_client().get("/openapi.json").json)

    @schema.auth()
    class BearerAuth:
        """A fresh token for a user (or the admin) that exists, is active and has a known password: generated
        requests may delete, deactivate or re-password any account, including these."""

        def get(self, case, context):
            return accounts.token(admin=(case.method.upper(), case.path) in admin_only)

        def set(self, case, data, context):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    BearerAuth.refresh_interval = None  # every case gets a token that is valid now
    return schema


schema = schemathesis.pytest.from_fixture("contract_schema")


def test_stateful_sequences_conform_to_the_document(contract_schema):
    Workflow = contract_schema.as_state_machine()
    Workflow.run(settings=settings(HYPOTHESIS, max_examples=max(5, MAX_EXAMPLES // 5),
                                   stateful_step_count=STATEFUL_STEPS))


@schema.parametrize()
@HYPOTHESIS
def test_every_operation_conforms_to_the_document(case):
    case.call_and_validate()
