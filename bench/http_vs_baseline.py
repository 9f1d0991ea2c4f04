"""Benchmark: Gatehouse against the hand-written baseline (bench/baseline_app.py), same machine, database
and gunicorn settings, measured with wrk. Not a test: it prints figures (Markdown, for docs/performance.md).

    .venv/bin/python bench/http_vs_baseline.py                                    # SQLite, a temporary file
    .venv/bin/python bench/http_vs_baseline.py --database-url "$TEST_DATABASE_URL" # MySQL/MariaDB (drops tables)
    bench/run.sh                                                                  # both, MariaDB set up as in CI

For each read path it alternates ours/baseline `--rounds` times (wrk -t2 -c16 for `--duration` seconds each) and
prints the median requests/s of each, their ratio, and p50/p99 latencies. POST /auth/login is compared with the
password-hash ceiling: workers / seconds per argon2 verify, measured in this run. It also reports Gatehouse's
worker RSS after >= 20,000 and >= 100,000 requests, and counts every non-2xx answer (there must be none).
Its files (the SQLite database, the mail queue, wrk's script) live in a temporary directory removed at the end.
"""
import argparse
import json
import os
import pathlib
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import flask_migrate  # noqa: E402
import transaction  # noqa: E402

from app import create_app  # noqa: E402
from app.configs import OWASP_ARGON2, TestConfig  # noqa: E402
from app.dependencies import resolve  # noqa: E402
from app.services.passwords import PasswordService  # noqa: E402
from app.services.users import UserService  # noqa: E402
from bench.seeding import reset_schema, seed  # noqa: E402

SECRET_KEY = "bench-" + "x" * 40
PASSWORD = "benchmark password"  # noqa: S105  (a throwaway account in a throwaway database)
USERS = 1000
TARGET_ID = 500
PATHS = [  # (label, ours, baseline, our credential: a sign-in session's access token or a personal access token)
    ("GET /users/me", "/api/v1/users/me", "/me", "session"),
    ("GET /users/<id>", f"/api/v1/users/{TARGET_ID}", f"/users/{TARGET_ID}", "session"),
    ("GET /users?limit=20", "/api/v1/users?limit=20", "/users?limit=20", "session"),
    ("GET /users/me, personal token", "/api/v1/users/me", "/me", "pat"),
]
LOGIN_LUA = """wrk.method = "POST"
wrk.body = '{"email": "%s", "password": "%s"}'
wrk.headers["Content-Type"] = "application/json"
"""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn on 127.0.0.1 with the shared settings; stopped on exit."""

    def __init__(self, app_spec, cwd, env, workers, worker_class, threads):
        self.port = free_port()
        command = [sys.executable, "-m", "gunicorn", app_spec, "--bind", f"127.0.0.1:{self.port}",
                   "--workers", str(workers), "--worker-class", worker_class, "--threads", str(threads),
                   "--log-level", "warning"]
        self.process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env})  # noqa: S603
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{self.base}/health" if "autoapp" in app_spec else f"{self.base}/token/1",  # noqa: S310
                                       timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{app_spec} did not start")

    def worker_rss_mb(self):
        out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(self.process.pid)],  # noqa: S603, S607
                             capture_output=True, text=True, check=False).stdout
        return [int(line) / 1024 for line in out.split()]

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def wrk(url, duration, headers=(), script=None):
    """Run wrk; returns (requests/s, p50 ms, p99 ms, requests, non-2xx)."""
    command = ["wrk", "-t2", "-c16", f"-d{duration}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    if script:
        command += ["-s", script]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout  # noqa: S603
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))

    def percentile(p):
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    return rps, percentile(50), percentile(99), requests, errors


def prepare_database(url):
    """Migrated Gatehouse schema with USERS users (one with a known password for login); returns its email."""
    reset_schema(url)
    app = create_app(TestConfig(database_url=url, LOG_LEVEL="WARNING", **OWASP_ARGON2))  # the served parameters
    with app.app_context():
        flask_migrate.upgrade()
    seed(app, 0, USERS)
    with app.app_context():
        user = resolve(UserService).create(email="login@example.com", name="Login", password=PASSWORD)
        transaction.abort()
    return app, user.email


def verify_seconds(app, password_hash):
    """Median seconds of one argon2 verify with the app's parameters, the machine otherwise idle."""
    with app.app_context():
        passwords = resolve(PasswordService)
        times = []
        for _ in range(20):
            started = time.perf_counter()
            passwords.verify(password_hash, PASSWORD)
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def _verify_for(args):
    password_hash, seconds = args
    from argon2 import PasswordHasher
    hasher, count, deadline = PasswordHasher(), 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        hasher.verify(password_hash, PASSWORD)  # parameters come from the hash itself
        count += 1
    return count


def concurrent_verify_rate(password_hash, workers, seconds=5):
    """Verifies per second of `workers` processes verifying at once: the hash ceiling a server with that many
    workers can reach on this machine (cores shared with each other, as under load)."""
    import multiprocessing
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        counts = pool.map(_verify_for, [(password_hash, seconds)] * workers)
    return sum(counts) / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--baseline", default=str(ROOT / "bench" / "baseline_app.py"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gatehouse-http-bench-") as scratch:
        benchmark(args, pathlib.Path(scratch))


def benchmark(args, scratch):
    """The whole benchmark, its files in the directory `scratch`."""
    url = args.database_url or f"sqlite:///{scratch / 'bench.db'}"
    baseline = pathlib.Path(args.baseline).resolve()

    app, login_email = prepare_database(url)
    base_env = {"DATABASE_URL": url, "BASELINE_USERS": str(USERS)}
    # The baseline creates and seeds its table at import: do it once here, not racing in two workers.
    subprocess.run([sys.executable, "-c", "import baseline_app"], cwd=baseline.parent,  # noqa: S603
                   env={**os.environ, **base_env}, check=True)
    settings = (args.workers, args.worker_class, args.threads)
    # Rate limits off: this measures throughput (the baseline has none), and wrk would meet 429s within a second.
    ours = Server("autoapp:app", ROOT, {"GATEHOUSE_ENV": "production", "SECRET_KEY": SECRET_KEY,
                                        "DATABASE_URL": url, "LOG_LEVEL": "WARNING", "RATELIMIT_ENABLED": "false",
                                        "MAIL_QUEUE_PATH": str(scratch / "mail")}, *settings)
    theirs = Server("baseline_app:app", baseline.parent, base_env, *settings)
    try:
        with urllib.request.urlopen(urllib.request.Request(  # noqa: S310
                f"{ours.base}/api/v1/auth/login", f'{{"email": "{login_email}", "password": "{PASSWORD}"}}'.encode(),
                {"Content-Type": "application/json"})) as response:
            our_token = json.load(response)["access_token"]
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
        with urllib.request.urlopen(urllib.request.Request(  # noqa: S310
                f"{ours.base}/api/v1/users/me/tokens",
                json.dumps({"name": "bench", "scopes": ["profile:read", "users:read"], "expires_at": expires}).encode(),
                {"Content-Type": "application/json", "Authorization": f"Bearer {our_token}"})) as response:
            our_tokens = {"session": our_token, "pat": json.load(response)["token"]}
        with urllib.request.urlopen(f"{theirs.base}/token/1") as response:  # noqa: S310
            their_token = json.load(response)["access_token"]

        results, served, errors, rss_20k, rss_100k = {}, 0, 0, None, None
        for _label, our_path, their_path, kind in PATHS:  # warm both up
            wrk(f"{ours.base}{our_path}", 2, [f"Authorization: Bearer {our_tokens[kind]}"])
            wrk(f"{theirs.base}{their_path}", 2, [f"Authorization: Bearer {their_token}"])
        for _ in range(args.rounds):
            for label, our_path, their_path, kind in PATHS:
                mine = wrk(f"{ours.base}{our_path}", args.duration, [f"Authorization: Bearer {our_tokens[kind]}"])
                base = wrk(f"{theirs.base}{their_path}", args.duration, [f"Authorization: Bearer {their_token}"])
                results.setdefault(label, []).append((mine, base))
                served += mine[3]
                errors += mine[4] + base[4]
                if rss_20k is None and served >= 20000:
                    rss_20k = ours.worker_rss_mb()
                if rss_100k is None and served >= 100000:
                    rss_100k = ours.worker_rss_mb()

        script = scratch / "login.lua"
        script.write_text(LOGIN_LUA % (login_email, PASSWORD))
        login = [wrk(f"{ours.base}/api/v1/auth/login", args.duration, script=str(script))
                 for _ in range(args.rounds)]
        errors += sum(run[4] for run in login)
        with app.app_context():
            password_hash = resolve(UserService).find_by_email(login_email).password_hash
        per_verify = verify_seconds(app, password_hash)
        ceiling = args.workers / per_verify
        concurrent_ceiling = concurrent_verify_rate(password_hash, args.workers)
        rss_end = ours.worker_rss_mb()
    finally:
        ours.stop()
        theirs.stop()

    backend = url.split(":", 1)[0].split("+")[0]
    print(f"### {backend}: gunicorn -w {args.workers} -k {args.worker_class} --threads {args.threads}, "
          f"wrk -t2 -c16 -d{args.duration}s, {args.rounds} alternations, medians\n")
    print("| path | Gatehouse req/s | baseline req/s | ratio | Gatehouse p50 / p99 ms | baseline p50 / p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, runs in results.items():
        mine = statistics.median(r[0][0] for r in runs)
        base = statistics.median(r[1][0] for r in runs)
        p50, p99 = (statistics.median(r[0][i] for r in runs) for i in (1, 2))
        b50, b99 = (statistics.median(r[1][i] for r in runs) for i in (1, 2))
        print(f"| {label} | {mine:,.0f} | {base:,.0f} | **{mine / base:.2f}** | {p50:.2f} / {p99:.2f} | "
              f"{b50:.2f} / {b99:.2f} |")
    login_rps = statistics.median(run[0] for run in login)
    print(f"\nPOST /auth/login: {login_rps:,.1f} req/s, p50 / p99 {statistics.median(r[1] for r in login):.1f} / "
          f"{statistics.median(r[2] for r in login):.1f} ms. Hash ceiling: {args.workers} workers / "
          f"{per_verify * 1000:.1f} ms per verify on an idle machine = {ceiling:,.1f} req/s "
          f"(**{login_rps / ceiling:.0%}**); {args.workers} processes verifying at once reach "
          f"{concurrent_ceiling:,.1f} verifies/s (**{login_rps / concurrent_ceiling:.0%}**)")
    def mb(values):
        return ", ".join(f"{m:.0f}" for m in values or []) or "n/a"
    print(f"\nGatehouse worker RSS (MB): after 20,000+ read requests {mb(rss_20k)}; after 100,000+ {mb(rss_100k)}; "
          f"after all {served:,} reads and the login runs (argon2 holds {19} MiB while hashing) {mb(rss_end)}")
    print(f"\nNon-2xx answers and socket errors across every run: **{errors}**")


if __name__ == "__main__":
    main()
