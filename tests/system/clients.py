"""HTTP helpers of the system suite: every call on a new connection, timed, bounded by HTTP_TIMEOUT."""
import time

import requests

from tests.system.servers import HTTP_TIMEOUT


class Result:
    """One HTTP exchange as a client saw it: status (None when the connection failed), seconds, response."""

    __slots__ = ("label", "status", "seconds", "response", "error", "started", "payload")

    def __init__(self, label, started, seconds, response=None, error=None, payload=None):
        self.label, self.started, self.seconds = label, started, seconds
        self.response, self.error, self.payload = response, error, payload
        self.status = response.status_code if response is not None else None

    def __repr__(self):
        return f"<{self.label} {self.status or self.error!r} {self.seconds:.3f}s>"


def call(method, url, label=None, payload=None, timeout=HTTP_TIMEOUT, **kwargs):
    """One request on a new connection (no keep-alive: a killed worker fails only its own requests), timed."""
    started = time.monotonic()
    try:
        response = requests.request(method, url, timeout=timeout, headers={"Connection": "close",
                                                                           **kwargs.pop("headers", {})}, **kwargs)
        return Result(label or f"{method} {url}", started, time.monotonic() - started, response=response,
                      payload=payload)
    except requests.RequestException as exc:
        return Result(label or f"{method} {url}", started, time.monotonic() - started, error=exc, payload=payload)


PASSWORD = "correct horse battery"  # noqa: S105  (a test account's)


def register(base, email, password=PASSWORD, name="System Test"):
    return call("POST", f"{base}/api/v1/auth/register", label="register", payload=email,
                json={"email": email, "name": name, "password": password})


def login(base, email, password=PASSWORD):
    return call("POST", f"{base}/api/v1/auth/login", label="login", payload=email,
                json={"email": email, "password": password})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def is_problem(result, status):
    """The response is an RFC 9457 problem with `status` and shows no traceback."""
    response = result.response
    if response is None or response.status_code != status:
        return False
    body = response.text
    return (response.headers.get("Content-Type", "").startswith("application/problem+json")
            and response.json().get("status") == status and "Traceback" not in body and 'File "' not in body)

