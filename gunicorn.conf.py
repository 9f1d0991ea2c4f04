"""gunicorn settings for Gatehouse: `gunicorn -c gunicorn.conf.py autoapp:app` (Dockerfile, run.sh, Procfile, systemd).

Every setting comes from an environment variable with a safe default; `.env` next to this file is read first (as
autoapp.py does), variables already in the environment win. All durations are in seconds. docs/deployment.md
("Settings") lists the variables; `GUNICORN_CMD_ARGS` still overrides anything here.

Graceful shutdown with draining: on SIGTERM every worker keeps serving for DRAIN_SECONDS while `/ready` answers 503
(so load balancers take the instance out of rotation), then stops accepting and finishes its in-flight request(s);
the master kills what is still running after GUNICORN_GRACEFUL_TIMEOUT. SIGINT and SIGQUIT stop at once, no drain.
"""
import contextlib
import glob
import logging
import os
import signal
import sys
import threading
import time

from dotenv import load_dotenv
from gunicorn import glogging

# settings in .env apply to gunicorn too (quick start: ./run.sh); the environment wins over the file
load_dotenv(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".env"), override=False)

# The parser the app uses (environs): an empty value counts as unset, a malformed one stops gunicorn with a message
# naming the variable. HUP runs this file again before new workers start: drop the module so they get the release's
# copy, not the one the master imported at its start (the master never loads the app itself: app/__init__.py imports
# the factory on first use).
sys.modules.pop("app.runtime", None)
from app.runtime import LOG_FORMATS, EnvReader, JsonLineFormatter, at_least  # noqa: E402

env = EnvReader()


def _usable_cpus():
    """CPUs this process may run on (its affinity mask, which cpusets and `taskset` narrow; not CFS quotas)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux, or the call is filtered (seccomp)
        return os.cpu_count() or 1


# --- where to listen ------------------------------------------------------------------------------------------------
# Loopback unless told otherwise: a host install (run.sh, systemd) serves only its local nginx. The image sets
# BIND=0.0.0.0:5000, since inside a container the proxy reaches the app over the container network (compose publishes
# no app port). A PaaS sets PORT: then all interfaces on that port, as the platform's router expects.
_port = env.str("PORT").strip()
bind = [env.str("BIND", f"0.0.0.0:{_port}" if _port else "127.0.0.1:5000").strip()]
proc_name = "gatehouse"

# --- workers: class and count, by measurement -----------------------------------------------------------------------
# docs/performance.md, "The gunicorn worker class and count, by measurement" (2 cores, SQLite, same harness):
#   -w 2 -k sync                  /users/me 2,495 req/s, p99  9.1 ms   <- chosen
#   -w 2 -k gthread --threads 4   /users/me 3,031 req/s, p99 28.2 ms   (+20% throughput, 3x worse p99)
#   -w 4 -k sync                  /users/me 2,266 req/s, p99 14.0 ms   (more processes than cores: no gain)
# The work is CPU-bound Python (argon2 on login, serialization, the ORM), so one sync worker per core keeps every core
# busy without making requests queue behind each other inside a process: the lowest tail latency. gthread is one
# variable away (GUNICORN_WORKER_CLASS=gthread, GUNICORN_THREADS) where throughput matters more than p99. Slow
# clients cannot tie up sync workers: nginx buffers whole requests and responses in front of them.
# In a container limited by a CPU quota (`cpus:`) rather than a cpuset, set WEB_CONCURRENCY to the quota.
worker_class = env.str("GUNICORN_WORKER_CLASS", "sync").strip()
workers = env.int("WEB_CONCURRENCY", _usable_cpus(), validate=at_least(1))
# threads > 1 silently turns a sync worker into gthread, so threads are set for gthread only.
threads = env.int("GUNICORN_THREADS", 4, validate=at_least(1)) if worker_class == "gthread" else 1
# Each worker imports the app itself (no preload): no database connection or thread crosses a fork, and HUP reloads
# new code.
preload_app = False

# Recycle each worker after this many requests (plus 0..jitter, so they do not all restart at once): bounds the
# memory a slow leak can take. 0 disables. Worker RSS was measured flat from 20,000 to 100,000 requests
# (docs/performance.md), so this is a safety net, set high: a recycle re-imports the app (about a second of that
# worker's capacity), and at 10,000 a worker serving 1,000 req/s recycled every 10 s, which cost the benchmark
# 10-25% of its read throughput and put 250 ms spikes in its p99. Note: memory:// rate-limit counters live in the
# worker and restart with it; production shares them in Redis (RATELIMIT_STORAGE_URI).
max_requests = env.int("GUNICORN_MAX_REQUESTS", 200000, validate=at_least(0))
max_requests_jitter = env.int("GUNICORN_MAX_REQUESTS_JITTER", 20000, validate=at_least(0))

# --- timeouts (seconds) ---------------------------------------------------------------------------------------------
# Hard timeout: a worker silent for this long (a sync worker: one request taking this long) is killed and replaced.
# Requests are bounded well below it (DATABASE_CONNECT_TIMEOUT 3, DATABASE_STATEMENT_TIMEOUT 3, OIDC_HTTP_TIMEOUT 5);
# nginx's proxy_read_timeout (deploy/nginx/gatehouse.conf) is a little longer, so gunicorn, not nginx, decides that a
# request took too long.
timeout = env.int("GUNICORN_TIMEOUT", 30, validate=at_least(1))
# Drain: after SIGTERM, how long workers keep serving while /ready answers 503. 0: no drain (gunicorn's own SIGTERM
# handling: stop accepting at once, finish in-flight requests).
DRAIN_SECONDS = env.float("DRAIN_SECONDS", 5.0, validate=at_least(0))
# Graceful timeout: after SIGTERM, how long the master waits for workers to exit before it kills them. It covers the
# drain plus the requests still in flight when the drain ends, so it must exceed DRAIN_SECONDS.
graceful_timeout = env.int("GUNICORN_GRACEFUL_TIMEOUT", 30, validate=at_least(1))
if graceful_timeout <= DRAIN_SECONDS:
    raise RuntimeError(f"GUNICORN_GRACEFUL_TIMEOUT ({graceful_timeout} s) must exceed DRAIN_SECONDS "
                       f"({DRAIN_SECONDS} s): in-flight requests need time to finish after the drain")
# Idle keep-alive connections (gthread only; sync workers close every connection). nginx's upstream keepalive_timeout
# is shorter, so nginx never sends a request on a connection gunicorn is closing.
keepalive = env.int("GUNICORN_KEEPALIVE", 5, validate=at_least(0))

# --- proxies --------------------------------------------------------------------------------------------------------
# Addresses allowed to set X-Forwarded-Proto & co. for gunicorn itself (wsgi.url_scheme). The app's ProxyFix
# (PROXY_HOPS) is what decides the client address, scheme and host; this only keeps gunicorn from believing anyone else.
forwarded_allow_ips = env.str("FORWARDED_ALLOW_IPS", "127.0.0.1,::1").strip()

# The heartbeat file each worker touches (os.utime on every loop): on tmpfs when there is one, since a disk-backed
# /tmp (container overlay filesystems) can stall workers on it. gunicorn creates it with mkstemp (0600, O_EXCL) and
# unlinks it at once, so a shared directory is safe.
_TMPFS = "/dev/shm"  # noqa: S108 (see above)
worker_tmp_dir = _TMPFS if os.path.isdir(_TMPFS) and os.access(_TMPFS, os.W_OK) else None

# gunicorn >= 25 opens a control socket (gunicornc) in $XDG_RUNTIME_DIR or ~/.gunicorn by default; off unless a path
# is given, so nothing is created in a home directory the service user may not have.
_control_socket = env.str("GUNICORN_CONTROL_SOCKET").strip()
control_socket_disable = not _control_socket
if _control_socket:
    control_socket = _control_socket


# --- logs: the app's JSON lines on stdout, or text ------------------------------------------------------------------
# LOG_FORMAT as the app reads it (app/configs.py): json, except text by default in development and tests.
LOG_FORMAT = env.choice("LOG_FORMAT", "text" if env.str("GATEHOUSE_ENV") in ("development", "testing") else "json",
                        LOG_FORMATS)


class _Pid(logging.Filter):
    """Adds `pid` to gunicorn's own records (which worker booted, exited, timed out)."""

    def filter(self, record):
        record.pid = record.process
        return True


class JsonLogger(glogging.Logger):
    """gunicorn's logger writing the app's JSON lines (app.runtime.JsonLineFormatter: the same fields and time
    format) to stdout, not stderr: its own messages (logger gunicorn.error, with `pid`) and, when enabled, one
    access line per request (logger gunicorn.access)."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if not getattr(handler, "_gunicorn", False):
                    continue
                if type(handler) is logging.StreamHandler and handler.stream is sys.stderr:
                    handler.setStream(sys.stdout)  # gunicorn's "-"; the platform reads stdout (Docker, journald)
                handler.setFormatter(JsonLineFormatter())
                if log is self.error_log:
                    handler.addFilter(_Pid())

    def access(self, resp, req, environ, request_time):
        """The access line: the app's fields where gunicorn knows them (no route, no user), and the path without the
        query string (it may carry personal data: list filters; tokens never travel in URLs)."""
        if not self.access_log_enabled:
            return
        try:
            atoms = self.atoms(resp, req, environ, request_time)
            method, path, status = atoms["m"], atoms["U"], int(atoms["s"])
            duration_ms = round(request_time.total_seconds() * 1000, 2)
            self.access_log.info("%s %s %s %.2fms", method, path, status, duration_ms, extra={
                "request_id": atoms.get("{x-request-id}o"), "method": method, "path": path, "status": status,
                "duration_ms": duration_ms, "remote_addr": atoms["h"], "bytes": atoms["B"],
                "user_agent": atoms["a"]})
        except Exception:
            self.exception("access log line failed")


errorlog = "-"
loglevel = env.str("GUNICORN_LOG_LEVEL", "info").strip()
# The app writes one access line per request itself (logger gatehouse.access, with the user id and route), so
# gunicorn's access log is off; GUNICORN_ACCESS_LOG=1 adds it, e.g. to see requests the app never saw.
accesslog = "-" if env.bool("GUNICORN_ACCESS_LOG", False) else None
if LOG_FORMAT == "json":
    logger_class = JsonLogger
else:  # gunicorn's own text lines on stderr; its access lines without the query string, as above
    access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s" %({x-request-id}o)s'


# --- Prometheus multiprocess mode -----------------------------------------------------------------------------------
def on_starting(server):
    """Master start: refuse an unusable app configuration before any worker starts (`_check_app_configuration`),
    then give the workers an empty PROMETHEUS_MULTIPROC_DIR (when set). Only the metric files prometheus_client
    writes there (*.db) are removed, never anything else a mistaken path may hold."""
    _check_app_configuration()
    directory = env.str("PROMETHEUS_MULTIPROC_DIR").strip()
    if not directory:
        return
    os.makedirs(directory, mode=0o700, exist_ok=True)
    for path in glob.glob(os.path.join(directory, "*.db")):
        os.unlink(path)
    server.log.info("prometheus multiprocess directory %s emptied", directory)


def _check_app_configuration():
    """Read the app's configuration once in the master (app/configs.py: settings only, not the app) and, when it
    is refused, print its one line and exit with CONFIGURATION_REFUSED (4) before any worker starts. Left to the
    workers, each would print it, and gunicorn, halting on the first worker's exit, raises again on the second's
    (exit 1 and a traceback). The module is dropped afterwards, so workers (after a HUP too) read the release's own."""
    try:
        from app import configs
        try:
            configs.config_for()
        except configs.ConfigurationError as error:
            sys.stderr.write(configs.refusal_line(error) + "\n")
            sys.stderr.flush()
            sys.exit(configs.CONFIGURATION_REFUSED)
    finally:
        sys.modules.pop("app.configs", None)


def child_exit(server, worker):
    """Master, after a worker exited: drop that worker's live gauges from the multiprocess metrics."""
    if not env.str("PROMETHEUS_MULTIPROC_DIR"):
        return
    try:
        from app.observability.metrics import mark_worker_dead
    except ImportError:  # the metrics module is not there (yet)
        return
    try:
        mark_worker_dead(worker.pid)
    except Exception:  # the master must outlive any metrics bug
        server.log.exception("mark_worker_dead(%s) failed", worker.pid)


# --- graceful shutdown with draining --------------------------------------------------------------------------------
def post_worker_init(worker):
    """Worker, app loaded: replace gunicorn's SIGTERM handler with one that drains first (unless DRAIN_SECONDS is 0).

    The signal handler only writes a byte to a pipe (async-signal-safe: no lock, no allocation that could deadlock
    the request it interrupts). A thread waiting on that pipe raises the draining flag (`/ready` -> 503), sleeps
    DRAIN_SECONDS while the worker keeps accepting and serving, then calls gunicorn's own SIGTERM handler (the loop
    stops accepting and exits after the current request) and wakes the worker loop out of its wait. A second SIGTERM
    (systemd or an orchestrator signalling every process, then the master forwarding its own) changes nothing.
    """
    if DRAIN_SECONDS <= 0:
        return
    from app.services.health import start_draining  # the app is loaded in the worker by now, never in the master

    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)  # a full pipe means "already signalled", never a blocked handler
    graceful_exit = worker.handle_exit  # gunicorn's behaviour for SIGTERM: alive = False (gthread: also wakes up)

    def on_sigterm(signum, frame):
        with contextlib.suppress(BlockingIOError):
            os.write(write_fd, b"T")

    def drain():
        os.read(read_fd, 1)  # blocks until the first SIGTERM
        start_draining()
        worker.log.info("worker %s draining for %s s, then stopping", worker.pid, DRAIN_SECONDS)
        time.sleep(DRAIN_SECONDS)
        graceful_exit(signal.SIGTERM, None)
        with contextlib.suppress(OSError, IndexError):  # wake the sync loop out of select(); others ignore it
            os.write(worker.PIPE[1], b".")

    threading.Thread(target=drain, name="gatehouse-drain", daemon=True).start()
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.siginterrupt(signal.SIGTERM, False)  # as gunicorn does: SIGTERM must not interrupt a request's I/O


def worker_exit(server, worker):
    """Worker, its loop done: close its copies of the listening sockets before the interpreter tears down (a few
    tenths of a second). Otherwise connections keep landing in the accept queue until the process ends and are then
    reset; closed, they are refused at once, which nginx retries on another instance, even for a POST (nothing was
    sent). Only this process's descriptors close (no shutdown()): the master and other workers keep theirs."""
    if worker.pid != os.getpid():  # gunicorn also calls this hook in the master, for a worker it found gone
        return
    for listener in worker.sockets:
        listener.close()
