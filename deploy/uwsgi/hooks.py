"""uWSGI hooks for Gatehouse: what gunicorn.conf.py's hooks do, for the uWSGI path. deploy/uwsgi/uwsgi.ini loads
this file into the uWSGI master (`shared-import`) before any worker is forked; importable only under uWSGI.

In the master, at start:
  - settings: gunicorn.conf.py is run with this environment (and `.env` beside it, without overriding the
    environment, as gunicorn reads it); uWSGI must have parsed the same workers, recycling, hard timeout, graceful
    timeout and access log from uwsgi.ini, else the master exits naming the difference (a setting only in `.env`,
    which uWSGI's ini cannot see, or a value gunicorn.conf.py refuses). The app then sees that same environment.
  - Prometheus multiprocess: gunicorn.conf.py's `on_starting` creates PROMETHEUS_MULTIPROC_DIR and empties it (on
    the first start, not on a reload: SIGHUP re-executes the master, which runs this again).
In each worker, after the fork and before it imports the app (uwsgidecorators.postfork):
  - dead workers' gauges: gunicorn.conf.py's `child_exit` (mark_worker_dead) for every pid with live-gauge files
    that is not a live worker of this master (one killed by harakiri or a crash, which runs no exit hook), and for
    this worker itself when it exits (atexit).
  - draining: SIGHUP, which uWSGI sends a worker to stop it (the master's SIGTERM, remapped in uwsgi.ini to uWSGI's
    graceful shutdown) or to reload it (SIGHUP to the master, touch-reload), wakes a thread that makes `/ready`
    answer 503 for DRAIN_SECONDS while the worker keeps serving, then has uWSGI stop the worker gracefully (it
    finishes its request and exits), and ends it if it still runs GUNICORN_GRACEFUL_TIMEOUT seconds after the signal.
    Durations in seconds.

Why a thread and two signal remaps (uwsgi.ini, hook-accepting): uWSGI installs its own C handler for SIGHUP after the
app is imported, and runs no Python in a worker idle in accept(). So SIGHUP is remapped to PyErr_SetInterruptEx,
which trips the Python handler installed here; Python writes the signal number to its wakeup pipe at once, and the
thread blocked on that pipe does the work. SIGUSR1 is remapped to uWSGI's own graceful worker stop (gracefully_kill),
which the thread sends the main thread when the drain is over.
"""
import atexit
import contextlib
import glob
import os
import runpy
import signal
import sys
import threading
import time
import types
from pathlib import Path

import uwsgi
import uwsgidecorators

REPO = Path(__file__).resolve().parents[2]
STOP_SIGNAL = signal.SIGHUP  # what uWSGI sends a worker to stop or reload it gracefully
GRACEFUL_STOP = signal.SIGUSR1  # remapped to uWSGI's gracefully_kill in each worker (uwsgi.ini)


def _log(message):
    """One line in uWSGI's log (uwsgi.ini turns it into a JSON object with logger "uwsgi")."""
    uwsgi.log(f"gatehouse: {message}")


class _Log:
    """The `server.log` that gunicorn.conf.py's hooks call, writing to uWSGI's log."""

    def info(self, message, *args):
        _log(message % args)

    def exception(self, message, *args):
        _log(message % args + f": {sys.exc_info()[1]!r}")


_SERVER = types.SimpleNamespace(log=_Log())  # gunicorn.conf.py's hooks take (server[, worker]); they use server.log


# --- the master, at start -------------------------------------------------------------------------------------------
def _option(name):
    """The value uWSGI parsed for option `name` (the last one when repeated), as a str; None when unset."""
    value = uwsgi.opt.get(name)
    if isinstance(value, list):
        value = value[-1]
    if isinstance(value, bytes):
        value = value.decode()
    return None if value is None else str(value)


def _same_settings_as_gunicorn(conf):
    """The differences between uWSGI's parsed options and gunicorn.conf.py's settings `conf`, as messages."""
    access_log = conf["accesslog"] is not None
    expected = {
        "workers": (conf["workers"], "WEB_CONCURRENCY"),
        "max-requests": (conf["max_requests"], "GUNICORN_MAX_REQUESTS"),
        "max-requests-delta": (conf["max_requests_jitter"] // conf["workers"],
                               "GUNICORN_MAX_REQUESTS_JITTER / WEB_CONCURRENCY"),
        "harakiri": (conf["timeout"], "GUNICORN_TIMEOUT"),
        "worker-reload-mercy": (conf["graceful_timeout"], "GUNICORN_GRACEFUL_TIMEOUT"),
        "disable-logging": (None if access_log else "true", "GUNICORN_ACCESS_LOG (uwsgi.ini tests for =1 only)"),
    }
    problems = [f"{option} is {_option(option) or 'unset'} but {source} gives {value or 'unset'}"
                for option, (value, source) in expected.items()
                if _option(option) != (None if value is None else str(value))]
    if conf["worker_class"] != "sync":
        problems.append(f"GUNICORN_WORKER_CLASS={conf['worker_class']}: the uWSGI path runs sync workers only")
    return problems


def _load_gunicorn_settings():
    """gunicorn.conf.py's module namespace, evaluated here (it also loads .env into the environment); exits the
    master with the reason when its settings are invalid or uWSGI parsed different ones."""
    try:
        conf = runpy.run_path(str(REPO / "gunicorn.conf.py"))
    except RuntimeError as error:  # gunicorn.conf.py's own validation (its settings, the drain arithmetic)
        sys.exit(f"gatehouse: invalid setting: {error}")
    problems = _same_settings_as_gunicorn(conf)
    if problems:
        sys.exit("gatehouse: uwsgi.ini and gunicorn.conf.py disagree (uWSGI sees only the environment it starts "
                 "with, not .env, and an empty value counts as set): " + "; ".join(problems))
    return conf


GUNICORN = _load_gunicorn_settings()
DRAIN_SECONDS = GUNICORN["DRAIN_SECONDS"]
GRACEFUL_TIMEOUT = GUNICORN["graceful_timeout"]
if os.environ.get("UWSGI_RELOADS", "0") == "0":  # uWSGI counts its binary reloads (SIGHUP) there
    # A reload keeps the files, as gunicorn's HUP does: the counters go on; the old workers' gauges left with them.
    GUNICORN["on_starting"](_SERVER)


# --- each worker, after the fork ------------------------------------------------------------------------------------
def _mark_dead(pid):
    GUNICORN["child_exit"](_SERVER, types.SimpleNamespace(pid=pid))


def _sweep_dead_workers():
    """mark_worker_dead for every pid with live-gauge files that is not a live worker of this master."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if not directory:
        return
    live = {worker["pid"] for worker in uwsgi.workers()} | {os.getpid()}
    dead = set()
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        with contextlib.suppress(ValueError):
            dead.add(int(os.path.basename(path)[:-len(".db")].rsplit("_", 1)[1]))
    for pid in sorted(dead - live):
        _mark_dead(pid)


def _drain_then_stop(wakeup_fd, main_thread):
    """The drain thread: wait for STOP_SIGNAL, drain, have uWSGI stop the worker gracefully, end it at the deadline."""
    while os.read(wakeup_fd, 1) != bytes([STOP_SIGNAL]):  # the wakeup pipe carries the number of each signal
        pass
    started = time.monotonic()
    pid = os.getpid()
    if DRAIN_SECONDS > 0:
        from app.services.health import start_draining  # the app is imported by now

        start_draining()
        _log(f"worker {pid} draining for {DRAIN_SECONDS} s, then stopping")
        time.sleep(DRAIN_SECONDS)
    signal.pthread_kill(main_thread, GRACEFUL_STOP)  # stop accepting; exit after the request in progress
    time.sleep(max(0.0, GRACEFUL_TIMEOUT - (time.monotonic() - started)))
    # Still here: a request outlived the graceful timeout. The master enforces it on a reload (worker-reload-mercy),
    # but while it shuts down it only waits, so the worker ends itself (gunicorn's master kills it at this point).
    _log(f"worker {pid} still running {GRACEFUL_TIMEOUT} s after the stop signal: exiting now")
    os._exit(1)


def _on_stop_signal(signum, frame):
    """The Python handler PyErr_SetInterruptEx trips; the drain thread has already been woken through the pipe."""


@uwsgidecorators.postfork
def _worker_started():
    """Each worker, in its main thread, right after the fork (before the app is imported). The stop signal is
    handled first: until then the worker has the master's handler for it (uWSGI's grace_them_all), and a stop
    arriving in that window would be lost (the master's graceful shutdown would then wait for this worker forever)."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)  # a full pipe means "already signalled", never a blocked handler
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    signal.signal(STOP_SIGNAL, _on_stop_signal)
    threading.Thread(target=_drain_then_stop, args=(read_fd, threading.get_ident()), name="gatehouse-drain",
                     daemon=True).start()
    atexit.register(_mark_dead, os.getpid())
    _sweep_dead_workers()
