"""Real servers on 127.0.0.1 for the system suite: a private MariaDB, Redis, gunicorn (or uWSGI) instances of
Gatehouse and nginx in front, each a subprocess with its own port or unix socket, files and log in a temporary
directory, stopped by `close()`.

`Stack` starts a whole topology and stops every part on exit (even when a test fails or times out); the scenario
fixtures in conftest.py build one per scenario. Every wait is bounded; nothing listens beyond 127.0.0.1.
"""
import contextlib
import getpass
import grp
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import sqlalchemy as sa

from tests import live_server
from tests.net import free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the virtualenv running pytest: gunicorn, flask, locust
GUNICORN_CONF = REPO / "gunicorn.conf.py"
NGINX_CONF = REPO / "deploy" / "nginx" / "gatehouse.conf"
NGINX_UPSTREAM = REPO / "deploy" / "nginx" / "upstream.conf"
NGINX_UWSGI_CONF = REPO / "deploy" / "nginx" / "gatehouse-uwsgi.conf"
NGINX_SNIPPETS = REPO / "deploy" / "nginx" / "snippets"
UWSGI_INI = REPO / "deploy" / "uwsgi" / "uwsgi.ini"
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


class _Instance:
    """One Gatehouse instance: a master process and its workers, logging to `log`."""

    kind = "instance"

    def __init__(self, root, name, env, workers=2):
        self.root, self.name, self.env, self.workers = Path(root), name, env, workers
        self.log = self.root / f"{name}.log"
        self.process = None

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


class Gunicorn(_Instance):
    """One Gatehouse instance: a gunicorn master (with the repo's gunicorn.conf.py when present) and its workers."""

    kind = "gunicorn"

    def __init__(self, root, name, env, workers=2):
        super().__init__(root, name, env, workers)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.upstream = f"127.0.0.1:{self.port}"  # as nginx's upstream.conf names it

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


def uwsgi_request(socket_path, method, path, headers=None, body=b"", remote_addr="127.0.0.1", timeout=HTTP_TIMEOUT):
    """One request in the uwsgi protocol (what nginx's uwsgi_pass speaks) on the unix socket `socket_path`; returns
    (status code, headers dict with lower-case names, body bytes). `body` (bytes) is sent with its CONTENT_LENGTH;
    `timeout` in seconds bounds each socket operation."""
    variables = {"REQUEST_METHOD": method, "PATH_INFO": path, "REQUEST_URI": path, "QUERY_STRING": "",
                 "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
                 "REMOTE_ADDR": remote_addr, "CONTENT_LENGTH": str(len(body)) if body else ""}
    for name, value in (headers or {}).items():
        variables["HTTP_" + name.upper().replace("-", "_")] = value
    packed = b"".join(struct.pack("<H", len(part)) + part
                      for key, value in variables.items() for part in (key.encode(), value.encode()))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(socket_path))
        sock.sendall(struct.pack("<BHB", 0, len(packed), 0) + packed + body)  # modifier1 0: a WSGI request
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, content = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    response_headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in response_headers.items()}, content


class UwsgiInstance(_Instance):
    """One Gatehouse instance under uWSGI with the repo's deploy/uwsgi/uwsgi.ini, on a unix socket in its own runtime
    directory (the ini's $RUNTIME_DIRECTORY, which systemd sets in production). It speaks the uwsgi protocol only:
    `request()` asks it directly, nginx (gatehouse-uwsgi.conf) serves HTTP in front of it."""

    kind = "uwsgi"

    def __init__(self, root, name, env, workers=2):
        super().__init__(root, name, env, workers)
        # Unix socket paths are limited to 107 bytes: a short directory of its own, beside the pytest ones.
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"gh-uwsgi-{name}-"))
        self.socket = self.run_dir / "uwsgi.sock"
        self.upstream = f"unix:{self.socket}"  # as nginx's gatehouse-uwsgi.conf names it
        self.metrics_dir = self.root / f"metrics-{name}"

    def command(self):
        """The argv and environment this instance runs with."""
        env = {**self.env, "RUNTIME_DIRECTORY": str(self.run_dir), "WEB_CONCURRENCY": str(self.workers),
               "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
               # the socket's owner and group: ours (the ini's default group, nginx's www-data, needs membership)
               "UWSGI_CHOWN_SOCKET": f"{getpass.getuser()}:{grp.getgrgid(os.getgid()).gr_name}"}
        return [str(BIN / "uwsgi"), "--ini", str(UWSGI_INI)], env

    def start(self, timeout=60):
        self.root.mkdir(parents=True, exist_ok=True)
        args, env = self.command()
        self.process = Process(f"uwsgi {self.name}", args, self.log, env=env, cwd=REPO)
        wait_until(lambda: self.process.check_alive() and self.request("GET", "/health", timeout=2)[0] == 200,
                   timeout, f"uwsgi {self.name} answering /health on {self.socket}")
        wait_until(lambda: len(self.worker_pids()) == self.workers, timeout, f"uwsgi {self.name}: all workers")
        return self

    def request(self, method, path, **kwargs):
        """`uwsgi_request` on this instance's socket: (status, headers, body)."""
        return uwsgi_request(self.socket, method, path, **kwargs)

    def stop(self, timeout=20):
        try:
            super().stop(timeout)
        finally:
            shutil.rmtree(self.run_dir, ignore_errors=True)


def _is_live(pid):
    """True unless the process is gone or a zombie (killed but not yet reaped by its parent)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def substitute_nginx_upstream(text, upstreams, address="127.0.0.1:5000"):
    """An upstream block of the repo's nginx files with our instances: its `server <address> ...;` line becomes one
    line per instance, with the same parameters (the file's contract with this suite: see its header comment). The
    address: upstream.conf's `127.0.0.1:5000`, or gatehouse-uwsgi.conf's `unix:/run/gatehouse-uwsgi/uwsgi.sock`."""
    server_line = re.compile(rf"^([ \t]*)server\s+{re.escape(address)}\b([^;]*);[ \t]*$", re.M)
    found = server_line.findall(text)
    if len(found) != 1:
        raise ServerError(f"expected one `server {address} ...;` line in the nginx file, found {len(found)}")
    return server_line.sub(lambda m: "\n".join(f"{m.group(1)}server {u}{m.group(2)};" for u in upstreams), text)


def substitute_nginx_conf(text, listen_port, log_dir):
    """The repo's site file with our listen address and log: the `listen ...;` line becomes 127.0.0.1:<port>, and an
    `access_log <path> [format];` line, if any, writes into `log_dir` (the file's contract with this suite: see its
    header comment)."""
    listen_line = re.compile(r"^([ \t]*)listen\s+[^;]+;[ \t]*$", re.M)
    if len(listen_line.findall(text)) != 1:
        raise ServerError("expected exactly one `listen ...;` line in the nginx config")
    text = listen_line.sub(lambda m: f"{m.group(1)}listen 127.0.0.1:{listen_port};", text)
    return substitute_nginx_access_log(text, log_dir)[0]


def substitute_nginx_access_log(text, log_dir):
    """`text` with each `access_log <path> [format];` line writing into `log_dir` instead, and how many there were."""
    access_log = re.compile(r"^([ \t]*)access_log\s+(?!off\b)\S+([^;]*);[ \t]*$", re.M)
    return access_log.subn(lambda m: f"{m.group(1)}access_log {log_dir}/access.log{m.group(2)};", text)


class Nginx:
    """nginx in front of the instances, as a foreground process with its own prefix, pid file, temp paths and logs,
    with the repo's files in the VM layout: deploy/nginx/gatehouse.conf and upstream.conf (`upstreams`: gunicorn
    instances' host:port), or with `uwsgi` gatehouse-uwsgi.conf (`upstreams`: uWSGI instances' unix:<socket>); both
    with deploy/nginx/snippets/ (the access log rewritten into the temporary directory)."""

    def __init__(self, root, upstreams, uwsgi=False):
        self.root, self.upstreams, self.uwsgi = Path(root), list(upstreams), uwsgi
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.root / "error.log"
        self.access_log = self.root / "access.log"
        self.process = None
        self.source = NGINX_UWSGI_CONF if uwsgi else NGINX_CONF

    def write_config(self):
        self.root.mkdir(parents=True, exist_ok=True)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "snippets"):
            (self.root / sub).mkdir(exist_ok=True)
        access_logs = 0
        for snippet in NGINX_SNIPPETS.glob("*.conf"):  # `include snippets/...` resolves against our prefix
            text, count = substitute_nginx_access_log(snippet.read_text(), self.root)
            access_logs += count
            (self.root / "snippets" / snippet.name).write_text(text)
        if access_logs != 1:
            raise ServerError(f"expected one `access_log ...;` line in {NGINX_SNIPPETS}, found {access_logs}")
        site = substitute_nginx_conf(self.source.read_text(), self.port, self.root)
        if self.uwsgi:
            site = substitute_nginx_upstream(site, self.upstreams, "unix:/run/gatehouse-uwsgi/uwsgi.sock")
            upstream = ""
        else:
            upstream_file = self.root / "upstream.conf"
            upstream_file.write_text(substitute_nginx_upstream(NGINX_UPSTREAM.read_text(), self.upstreams))
            upstream = f"include {upstream_file};"
        (self.root / "gatehouse.conf").write_text(site)
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
    {upstream}
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
           if not k.startswith(("GUNICORN_", "UWSGI_", "TEST_", "RATELIMIT_", "MAIL_", "OIDC_", "GOOGLE_"))
           and k not in ("GATEHOUSE_ENV", "SECRET_KEY", "DATABASE_URL", "PROXY_HOPS", "FAIL_ON_SKIP", "WEB_CONCURRENCY",
                         "DRAIN_SECONDS", "PROMETHEUS_MULTIPROC_DIR", "RUNTIME_DIRECTORY")}
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
    """`flask --app autoapp ARGS` with the stack's environment (migrations, create-admin): its stdout; ServerError
    with its output when it fails."""
    return live_server.flask_cli(env, *args, timeout=timeout, failure=ServerError)


class Stack:
    """MariaDB (+ Redis) + `instances` gunicorn instances (+ nginx), migrated and answering; `close()` stops all.

    `server="uwsgi"`: uWSGI instances (deploy/uwsgi/uwsgi.ini) on unix sockets instead, and nginx with
    gatehouse-uwsgi.conf. `env_overrides` are added to every instance's environment (e.g.
    RATELIMIT_PER_ACCOUNT="3/minute")."""

    SERVERS = {"gunicorn": Gunicorn, "uwsgi": UwsgiInstance}

    def __init__(self, root, instances=2, workers=2, redis=True, nginx=True, server="gunicorn", **env_overrides):
        self.root = Path(root)
        self.instance_count, self.workers, self.server = instances, workers, server
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
            instance_class = self.SERVERS[self.server]
            self.instances = [instance_class(self.root / self.server, name, self.env, self.workers)
                              for name in "ABCDEFGH"[:self.instance_count]]
            for instance in self.instances:  # one at a time: both import the app on 2 cores
                instance.start()
            if self.with_nginx:
                self.nginx = Nginx(self.root / "nginx", [i.upstream for i in self.instances],
                                   uwsgi=self.server == "uwsgi").start()
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
            parts.append(f"--- {instance.kind} {instance.name} ({instance.log})\n{tail(instance.log, 30)}")
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
