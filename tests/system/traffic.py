"""Background client traffic for the fault scenarios: threads that repeat a request until told to stop, each
recording every exchange (tests/system/clients.Result) and whether it has a request in flight right now."""
import itertools
import threading
import time
import uuid


class Traffic:
    """`add(n, make_request)` starts n threads calling `make_request(thread_index, sequence)` in a loop (each call
    returns a Result); `stop()` ends them (bounded: every request has a client timeout) and returns all Results."""

    def __init__(self):
        self.results = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._in_flight = {}
        self._sequence = itertools.count()

    def add(self, count, make_request, pause=0.0):
        for _ in range(count):
            index = len(self._threads)
            thread = threading.Thread(target=self._loop, args=(index, make_request, pause), daemon=True,
                                      name=f"traffic-{index}")
            self._in_flight[index] = False
            self._threads.append(thread)
            thread.start()
        return self

    def _loop(self, index, make_request, pause):
        while not self._stop.is_set():
            self._in_flight[index] = True
            result = make_request(index, next(self._sequence))
            self._in_flight[index] = False
            with self._lock:
                self.results.append(result)
            if pause:
                time.sleep(pause)

    def in_flight(self):
        """How many threads are waiting for a response at this instant."""
        return sum(self._in_flight.values())

    def since(self, moment):
        with self._lock:
            return [r for r in self.results if r.started >= moment]

    def stop(self, timeout=30):
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        assert not alive, f"traffic threads still running after {timeout} s: {alive}"
        return list(self.results)


def unique_email(prefix, sequence):
    return f"{prefix}{sequence}-{uuid.uuid4().hex[:10]}@example.com"
