"""Real servers on 127.0.0.1 for the system suite: a private MariaDB, Redis, gunicorn instances of Gatehouse and
nginx in front, each a subprocess with its own port, files and log in a temporary directory, stopped by `close()`.

`Stack` starts a whole topology and stops every part on exit (even when a test fails or times out); the scenario
fixtures in conftest.py build one per scenario. Every wait is bounded; nothing listens beyond 127.0.0.1.
"""
import contextlib
import getpass
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the virtualenv running pytest: gunicorn, flask, locust
GUNICORN_CONF = REPO / "gunicorn.conf.py"
NGINX_CONF = REPO / "deploy" / "nginx" / "gatehouse.conf"
NGINX_UPSTREAM = REPO / "deploy" / "nginx" / "upstream.conf"
HTTP_TIMEOUT = 15  # seconds: no request of the suite waits longer than this


class ServerError(RuntimeError):
    """A server did not start or stop as expected; the message carries the tail of its log."""


def tool(name):
    """The path of a system binary (also looked up in the sbin directories, which a non-root PATH may lack)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")
    if not found:
        raise ServerError(f"{name} is not installed: apt-get install nginx redis-server mariadb-server "
                          "(./run_system_tests.sh does it when run as root)")
    return found


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout, what, interval=0.05):
    """Call `predicate` until it returns a truthy value (returned), for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001  (anything a half-started server does: retry until the deadline)
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout} s" + (f" (last error: {last_error!r})" if last_error else ""))


def tail(path, lines=40):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Process:
    """A subprocess in its own process group, its output in `log`. `stop` signals it, waits, then kills the group."""

    def __init__(self, name, args, log, env=None, cwd=None):
        self.name, self.args, self.log = name, [str(a) for a in args], Path(log)
        self._log_file = open(self.log, "ab")  # noqa: SIM115  (closed in stop)
        self.popen = subprocess.Popen(self.args, stdout=self._log_file,  # noqa: S603  (our own fixed argv)
                                      stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                      stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def check_alive(self):
        if not self.alive():
            raise ServerError(f"{self.name} exited with {self.popen.returncode}:\n{tail(self.log)}")
        return True

    def send(self, sig):
        if self.alive():
            self.popen.send_signal(sig)

    def wait(self, timeout):
        try:
            self.popen.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Signal the process, wait up to `timeout` s, then SIGKILL its whole group (children included)."""
        try:
            self.send(sig)
            if not self.wait(timeout):
                print(f"{self.name}: still running {timeout} s after {sig!r}: killing its process group")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)  # also any orphaned child (a gunicorn worker)
            self.wait(10)
        finally:
            self._log_file.close()


class MariaDB:
    """A private MariaDB server: its own data directory, port and socket (`install`, then `start`/`stop`)."""

    def __init__(self, root):
        self.root = Path(root)
        self.datadir, self.socket = self.root / "data", self.root / "mysqld.sock"
        self.port = free_port()
        self.log = self.root / "mariadb.log"
        self.user = getpass.getuser()
        self.process = None
        self.password = secrets.token_hex(12)

    def install(self):
        self.root.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(  # noqa: S603  (fixed argv)
            [tool("mariadb-install-db"), "--no-defaults", f"--datadir={self.datadir}", f"--user={self.user}",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if result.returncode:
            raise ServerError(f"mariadb-install-db failed:\n{result.stdout}\n{result.stderr}")

    def start(self, timeout=60):
        """Start the server (again, on the same port and data) and wait until it answers."""
        self.process = Process("mariadbd", [
            tool("mariadbd"), "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
            "--bind-address=127.0.0.1", f"--socket={self.socket}", f"--user={self.user}", "--skip-log-bin",
            f"--pid-file={self.root / 'mysqld.pid'}", "--skip-name-resolve", "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci", "--innodb-buffer-pool-size=128M", "--max-connections=300",
            "--innodb-flush-log-at-trx-commit=1"], self.log)
        wait_until(lambda: self.process.check_alive() and self.ping(), timeout, "MariaDB answering")
        return self

    def ping(self):
        ping = [tool("mariadb-admin"), "--no-defaults", f"--socket={self.socket}", "-uroot", "--connect-timeout=2",
                "ping"]
        return subprocess.run(ping, capture_output=True, timeout=10).returncode == 0  # noqa: S603  (fixed argv)

    def stop(self, timeout=60):
        """SIGTERM (a clean shutdown, as `mariadb-admin shutdown` does) and wait until the process has exited."""
        if self.process is not None:
            self.process.stop(signal.SIGTERM, timeout)

    def sql(self, statements):
        """Run SQL as root through the socket (the mariadb client)."""
        client = [tool("mariadb"), "--no-defaults", f"--socket={self.socket}", "-uroot"]
        result = subprocess.run(client, input=statements,  # noqa: S603  (fixed argv)
                                capture_output=True, text=True, timeout=60)
        if result.returncode:
            raise ServerError(f"mariadb client failed: {result.stderr}")
        return result.stdout

    def create_database(self, name="gatehouse", user="gatehouse"):
        """A database and a mysql_native_password user for it (mysql-connector cannot log in ed25519 users);
        returns its SQLAlchemy URL."""
        self.sql(f"""
            CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
            CREATE USER '{user}'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('{self.password}');
            GRANT ALL PRIVILEGES ON `{name}`.* TO '{user}'@'127.0.0.1';
        """)
        return (f"mysql+mysqlconnector://{user}:{self.password}@127.0.0.1:{self.port}/{name}"
                "?charset=utf8mb4&collation=utf8mb4_unicode_ci")


class Redis:
    """A private Redis server (no persistence) on its own port."""

    def __init__(self, root):
        self.root = Path(root)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self, timeout=30):
        import redis

        self.root.mkdir(parents=True, exist_ok=True)
        self.process = Process("redis-server", [
            tool("redis-server"), "--port", self.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--dir", self.root, "--protected-mode", "yes"], self.root / "redis.log")
        client = redis.Redis.from_url(self.url, socket_timeout=2)
        wait_until(lambda: self.process.check_alive() and client.ping(), timeout, "Redis answering")
        return self

    def client(self):
        import redis
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def stop(self):
        if self.process is not None:
            self.process.stop(signal.SIGTERM, 10)


class Gunicorn:
    """One Gatehouse instance: a gunicorn master (with the repo's gunicorn.conf.py when present) and its workers."""

    def __init__(self, root, name, env, workers=2):
        self.root, self.name, self.env, self.workers = Path(root), name, env, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.root / f"{name}.log"
        self.process = None

    def start(self, timeout=60):
        self.root.mkdir(parents=True, exist_ok=True)
        args = [BIN / "gunicorn"]
        if GUNICORN_CONF.exists():
            args += ["-c", GUNICORN_CONF]
        # The command line wins over the config file: our address and a known worker count.
        args += ["--bind", f"127.0.0.1:{self.port}", "--workers", self.workers, "--name", f"gatehouse-{self.name}",
                 "autoapp:app"]
        # Each instance its own Prometheus multiprocess directory (the master empties it when it starts).
        env = {**self.env, "PROMETHEUS_MULTIPROC_DIR": str(self.root / f"metrics-{self.name}")}
        self.process = Process(f"gunicorn {self.name}", args, self.log, env=env, cwd=REPO)
        wait_until(lambda: self.process.check_alive() and requests.get(self.url + "/health", timeout=2).ok,
                   timeout, f"gunicorn {self.name} answering /health")
        wait_until(lambda: len(self.worker_pids()) == self.workers, timeout, f"gunicorn {self.name}: all workers")
        return self

    def worker_pids(self):
        """The master's child processes (its workers), from /proc."""
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return []
        return sorted(int(c) for c in children if _is_live(int(c)))

    def stop(self, timeout=20):
        if self.process is not None:
            self.process.stop(signal.SIGTERM, timeout)


def _is_live(pid):
    """True unless the process is gone or a zombie (killed but not yet reaped by its parent)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def substitute_nginx_upstream(text, upstreams):
    """The repo's VM upstream file with our instances: its `server 127.0.0.1:5000 ...;` line becomes one line per
    instance, with the same parameters (the file's contract with this suite: see its header comment)."""
    server_line = re.compile(r"^([ \t]*)server\s+127\.0\.0\.1:5000\b([^;]*);[ \t]*$", re.M)
    found = server_line.findall(text)
    if len(found) != 1:
        raise ServerError(f"expected one `server 127.0.0.1:5000 ...;` line in the upstream file, found {len(found)}")
    return server_line.sub(lambda m: "\n".join(f"{m.group(1)}server {u}{m.group(2)};" for u in upstreams), text)


def substitute_nginx_conf(text, listen_port, log_dir):
    """The repo's site file with our listen address and log: the `listen ...;` line becomes 127.0.0.1:<port>, and an
    `access_log <path> [format];` line writes into `log_dir` (the file's contract with this suite: see its header
    comment)."""
    listen_line = re.compile(r"^([ \t]*)listen\s+[^;]+;[ \t]*$", re.M)
    if len(listen_line.findall(text)) != 1:
        raise ServerError("expected exactly one `listen ...;` line in the nginx config")
    text = listen_line.sub(lambda m: f"{m.group(1)}listen 127.0.0.1:{listen_port};", text)
    access_log = re.compile(r"^([ \t]*)access_log\s+(?!off\b)\S+([^;]*);[ \t]*$", re.M)
    return access_log.sub(lambda m: f"{m.group(1)}access_log {log_dir}/access.log{m.group(2)};", text)


class Nginx:
    """nginx in front of the instances, with the repo's deploy/nginx/gatehouse.conf and upstream.conf (the VM
    layout), as a foreground process with its own prefix, pid file, temp paths and logs."""

    def __init__(self, root, upstreams):
        self.root, self.upstreams = Path(root), list(upstreams)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.root / "error.log"
        self.process = None
        self.source = NGINX_CONF

    def write_config(self):
        self.root.mkdir(parents=True, exist_ok=True)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.root / sub).mkdir(exist_ok=True)
        site = substitute_nginx_conf(self.source.read_text(), self.port, self.root)
        (self.root / "gatehouse.conf").write_text(site)
        (self.root / "upstream.conf").write_text(substitute_nginx_upstream(NGINX_UPSTREAM.read_text(), self.upstreams))
        r = self.root
        user = "user root;\n" if os.geteuid() == 0 else ""  # workers must reach the private temp directories
        (r / "nginx.conf").write_text(f"""{user}worker_processes 1;
daemon off;
pid {r}/nginx.pid;
error_log {r}/error.log info;
events {{ worker_connections 1024; }}
http {{
    default_type application/octet-stream;
    access_log {r}/access.log;
    client_body_temp_path {r}/client_body;
    proxy_temp_path {r}/proxy;
    fastcgi_temp_path {r}/fastcgi;
    uwsgi_temp_path {r}/uwsgi;
    scgi_temp_path {r}/scgi;
    include {r}/upstream.conf;
    include {r}/gatehouse.conf;
}}
""")
        return r / "nginx.conf"

    def start(self, timeout=30):
        conf = self.write_config()
        base = [tool("nginx"), "-p", self.root, "-c", conf, "-e", self.log]
        check = subprocess.run([str(a) for a in base] + ["-t"], capture_output=True, text=True,  # noqa: S603
                               timeout=30)
        if check.returncode:
            raise ServerError(f"nginx -t failed for {self.source}:\n{check.stderr}")
        self.process = Process("nginx", base, self.root / "nginx.out")
        wait_until(lambda: self.process.check_alive() and requests.get(self.url + "/health", timeout=2).ok,
                   timeout, "nginx answering /health")
        return self

    def stop(self):
        if self.process is not None:
            self.process.stop(signal.SIGQUIT, 10)  # graceful for nginx


def app_environment(database_url, redis_url, root, **overrides):
    """The production environment of every instance of one stack (same SECRET_KEY, database and Redis)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GUNICORN_", "TEST_", "RATELIMIT_", "MAIL_", "OIDC_", "GOOGLE_"))
           and k not in ("GATEHOUSE_ENV", "SECRET_KEY", "DATABASE_URL", "PROXY_HOPS", "FAIL_ON_SKIP")}
    mail_queue = Path(root) / "mail-queue"
    mail_queue.mkdir(parents=True, exist_ok=True)
    env.update({
        "GATEHOUSE_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATABASE_URL": database_url,
        "DATABASE_CONNECT_TIMEOUT": "2",
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "PROXY_HOPS": "1",
        "MAIL_QUEUE_PATH": str(mail_queue),
        "LOG_LEVEL": "INFO",  # the app's request log lines (request id, status) are INFO
        "PYTHONUNBUFFERED": "1",
    })
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def flask_cli(env, *args, timeout=120):
    """`flask --app autoapp ARGS` with the stack's environment (migrations, create-admin)."""
    command = [str(BIN / "flask"), "--app", "autoapp", *args]
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True,  # noqa: S603
                            timeout=timeout, stdin=subprocess.DEVNULL)
    if result.returncode:
        raise ServerError(f"flask {' '.join(args[:2])} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


class Stack:
    """MariaDB (+ Redis) + `instances` gunicorn instances (+ nginx), migrated and answering; `close()` stops all.

    `env_overrides` are added to every instance's environment (e.g. RATELIMIT_PER_ACCOUNT="3/minute")."""

    def __init__(self, root, instances=2, workers=2, redis=True, nginx=True, **env_overrides):
        self.root = Path(root)
        self.instance_count, self.workers = instances, workers
        self.with_redis, self.with_nginx, self.env_overrides = redis, nginx, env_overrides
        self.mariadb = self.redis = self.nginx = None
        self.instances = []
        self.started_at = time.monotonic()

    def start(self):
        try:
            self.mariadb = MariaDB(self.root / "mariadb")
            self.mariadb.install()
            self.mariadb.start()
            self.database_url = self.mariadb.create_database()
            if self.with_redis:
                self.redis = Redis(self.root / "redis").start()
            self.env = app_environment(self.database_url, self.redis.url if self.redis else None, self.root,
                                       **self.env_overrides)
            flask_cli(self.env, "db", "upgrade")
            self.instances = [Gunicorn(self.root / "gunicorn", name, self.env, self.workers)
                              for name in "ABCDEFGH"[:self.instance_count]]
            for instance in self.instances:  # one at a time: both import the app on 2 cores
                instance.start()
            if self.with_nginx:
                self.nginx = Nginx(self.root / "nginx", [f"127.0.0.1:{i.port}" for i in self.instances]).start()
        except BaseException:
            self.close()
            raise
        self.startup_seconds = time.monotonic() - self.started_at
        return self

    @property
    def url(self):
        """The front door: nginx when there is one, else the first instance."""
        return self.nginx.url if self.nginx else self.instances[0].url

    def engine(self):
        """A SQLAlchemy engine on the stack's database, for the tests' own checks (no pooling between checks)."""
        return sa.create_engine(self.database_url, poolclass=sa.pool.NullPool,
                                connect_args={"connection_timeout": 10})

    def query(self, sql, **params):
        engine = self.engine()
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text(sql), params).all()
        finally:
            engine.dispose()

    def logs(self):
        """The tail of every server's log, for a failure report."""
        parts = []
        for instance in self.instances:
            parts.append(f"--- gunicorn {instance.name} ({instance.log})\n{tail(instance.log, 30)}")
        if self.nginx:
            parts.append(f"--- nginx ({self.nginx.log})\n{tail(self.nginx.log, 15)}")
        if self.mariadb:
            parts.append(f"--- mariadb ({self.mariadb.log})\n{tail(self.mariadb.log, 10)}")
        return "\n".join(parts)

    def close(self):
        """Stop everything that was started, front to back; never raises before it has tried every server."""
        errors = []
        if self.nginx:
            self._try(self.nginx.stop, errors)
        for instance in self.instances:  # signal every master first, so their graceful stops overlap
            if instance.process is not None:
                self._try(lambda i=instance: i.process.send(signal.SIGTERM), errors)
        for instance in self.instances:
            self._try(instance.stop, errors)
        if self.redis:
            self._try(self.redis.stop, errors)
        if self.mariadb:
            self._try(self.mariadb.stop, errors)
        if errors:
            raise ServerError(f"stopping the stack: {errors}")

    @staticmethod
    def _try(action, errors):
        try:
            action()
        except Exception as exc:  # noqa: BLE001  (stop the rest, report at the end)
            errors.append(repr(exc))
