"""Ports and bounded waits for the tests that start servers (tests/live_server.py, tests/system/, tests/compose/,
tests/races/): one home for what each of them needs, standard library only."""
import contextlib
import socket
import time


def free_port():
    """A TCP port on 127.0.0.1 nothing listens on right now (connecting to it is refused until something does)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def refused_port(host="127.0.0.1"):
    """A TCP port on `host` that refuses connections for as long as the block runs: bound by this process and never
    listening, so no other process can take it meanwhile (free_port's may be taken as soon as it returns)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        yield sock.getsockname()[1]


def wait_until(predicate, timeout, what, interval=0.05, retry_on=(Exception,), failure=TimeoutError):
    """Call `predicate` every `interval` seconds until it returns a truthy value, and return that value.

    An exception of a `retry_on` class counts as "not yet" (anything a half-started server does, by default); any
    other propagates at once. After `timeout` seconds raises `failure` (TimeoutError, or the caller's class) with a
    message naming `what` and the last exception retried."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except retry_on as error:
            last = error
        time.sleep(interval)
    raise failure(f"timed out after {timeout} s waiting for {what}" + (f" (last error: {last!r})" if last else ""))
