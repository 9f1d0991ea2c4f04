"""schemathesis hooks for the CLI contract run (tests/test_contract_cli.py loads them through SCHEMATHESIS_HOOKS).

The run is authenticated with one admin access token (`-H "Authorization: Bearer ..."`), so a generated request
that ends that admin's sessions would turn every later request into a 401 and hollow out the rest of the run. The
operations that only end the caller's sessions (logout, logout-all, revoke, ending one of your sessions) are excluded
on the command line; this hook drops the cases of an admin's DELETE /api/v1/users/{user_id}/sessions/{session_id}
aimed at the admin itself, and, from PATCH /api/v1/users/{user_id}, only the cases aimed at the admin itself that
end its sessions as documented: a new password, or a role set that removes one of its roles while keeping `admin`
(without `admin` the server refuses with 409 and nothing ends, so those cases stay). Every other case of the
operation runs.
"""
import os

import schemathesis

ADMIN_ID = os.environ["GATEHOUSE_CONTRACT_ADMIN_ID"]
ADMIN_ROLES = frozenset(os.environ.get("GATEHOUSE_CONTRACT_ADMIN_ROLES", "user,admin").split(","))


def ends_the_admins_sessions(method, path, path_parameters, body):
    if method.upper() == "DELETE" and path == "/api/v1/users/{user_id}/sessions/{session_id}":
        return str((path_parameters or {}).get("user_id")) == ADMIN_ID  # one of them is the run's own
    if method.upper() != "PATCH" or path != "/api/v1/users/{user_id}":
        return False
    if str((path_parameters or {}).get("user_id")) != ADMIN_ID or not isinstance(body, dict):
        return False
    roles = body.get("roles")
    reduces_roles = isinstance(roles, list) and "admin" in roles and bool(ADMIN_ROLES - {str(r) for r in roles})
    return "password" in body or reduces_roles


@schemathesis.hook
def filter_case(context, case):
    return not ends_the_admins_sessions(case.operation.method, case.operation.path, case.path_parameters, case.body)
