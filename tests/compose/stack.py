"""A copy of the repository brought up with docker-compose, as the README's docker-compose section tells an operator.

`ComposeStack` copies the working tree (the files git tracks or would track) into a temporary directory, writes
`.env` from `.env.example` with only the values the README says to set, and runs `docker-compose` there under a
project name, image tag and host ports of its own, so that it never touches another stack on the same engine.
Containers are inspected through the Docker Engine API (docker-py), which any engine that serves it answers.
"""
import contextlib
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import docker
import pyotp
import requests

from tests import net

REPO = Path(__file__).resolve().parents[2]
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "an admin passphrase long enough"  # noqa: S105 (a throwaway stack's first admin)


class ComposeError(AssertionError):
    """A docker-compose command failed or a bounded wait ran out; the message carries its output."""


def wait_until(predicate, timeout, what, interval=1.0):
    """tests.net.wait_until at the compose suite's pace: `predicate` every `interval` seconds until it returns a
    truthy value (returned) or `timeout` seconds pass (ComposeError naming `what`). HTTP and Engine API errors, and
    the KeyError or ValueError of a half-written answer, count as "not yet" (the last one is reported)."""
    return net.wait_until(predicate, timeout, what, interval, failure=ComposeError,
                          retry_on=(requests.RequestException, docker.errors.APIError, KeyError, ValueError))


def copy_tree(destination):
    """Copy the files git tracks, and the untracked ones it does not ignore, into `destination` (a fresh clone's
    content plus uncommitted work: what an operator who cloned this revision has)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607
                            cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def set_settings(env_text, **settings):
    """`.env` text with each NAME=value set: an active or commented-out (`# NAME=`) line is replaced, else appended."""
    for name, value in settings.items():
        line = re.compile(rf"^(# )?{name}=.*$", re.M)
        if line.search(env_text):
            env_text = line.sub(lambda _m, n=name, v=value: f"{n}={v}", env_text, count=1)
        else:
            env_text += f"{name}={value}\n"
    return env_text


class ComposeStack:
    """One docker-compose project made from a copy of the repository in `root`."""

    def __init__(self, root):
        self.root = Path(root)
        self.project = f"ghtest{secrets.token_hex(4)}"
        self.image = f"gatehouse-test-{self.project}:latest"
        self.proxy_port, self.mailpit_port = net.free_port(), net.free_port()
        self.url = f"http://127.0.0.1:{self.proxy_port}"
        self.mailpit = f"http://127.0.0.1:{self.mailpit_port}"
        self.engine = docker.from_env()
        self._admin_refresh = None  # admin_token's two-factor session

    # --- the operator's steps -------------------------------------------------------------------------------------
    def prepare(self):
        """Copy the tree and write .env as the README says: cp .env.example .env, then set the secrets and the first
        admin (and the published ports, which the README says to change when 8080/8025 are taken)."""
        copy_tree(self.root)
        env = (self.root / ".env.example").read_text()
        (self.root / ".env").write_text(set_settings(
            env, SECRET_KEY=secrets.token_urlsafe(48), MYSQL_PASSWORD=secrets.token_urlsafe(18),
            MYSQL_ROOT_PASSWORD=secrets.token_urlsafe(18), FIRST_ADMIN_EMAIL=ADMIN_EMAIL,
            FIRST_ADMIN_PASSWORD=ADMIN_PASSWORD, PROXY_PORT=self.proxy_port, MAILPIT_PORT=self.mailpit_port))
        return self

    def set_setting(self, **settings):
        """Change settings in the stack's .env (as an operator editing it)."""
        path = self.root / ".env"
        path.write_text(set_settings(path.read_text(), **settings))

    def compose(self, *args, timeout=600, check=True):
        """Run `docker-compose ARGS` in the copy; returns the CompletedProcess (ComposeError when it fails)."""
        env = dict(os.environ, COMPOSE_PROJECT_NAME=self.project, GATEHOUSE_IMAGE=self.image)
        done = subprocess.run(["docker-compose", *args], cwd=self.root, env=env, capture_output=True,  # noqa: S603,S607
                              text=True, timeout=timeout)
        if check and done.returncode:
            raise ComposeError(f"docker-compose {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n"
                               f"{done.stderr}")
        return done

    # --- what the engine knows --------------------------------------------------------------------------------------
    def containers(self, service=None):
        """This project's containers (all states), optionally of one service, as docker-py objects."""
        labels = [f"com.docker.compose.project={self.project}"]
        if service:
            labels.append(f"com.docker.compose.service={service}")
        return self.engine.containers.list(all=True, filters={"label": labels})

    @staticmethod
    def health(container):
        """The container's health status ("healthy", "starting", "unhealthy") or None without a health check."""
        container.reload()
        return (container.attrs["State"].get("Health") or {}).get("Status") or None

    def image_size(self):
        """Bytes of the built app image, as the engine reports it."""
        return self.engine.images.get(self.image).attrs["Size"]

    def logs(self, service, tail=None):
        """Log lines of every container of `service`, by container name."""
        out = {}
        for container in self.containers(service):
            text = container.logs(tail=tail or "all").decode(errors="replace")
            out[container.name] = text.splitlines()
        return out

    def dump(self):
        """The last lines of every container's log, for a failure report."""
        parts = [self.compose("ps", check=False).stdout]
        for container in self.containers():
            parts.append(f"--- {container.name} ({container.status})")
            parts.append(container.logs(tail=30).decode(errors="replace"))
        return "\n".join(parts)

    # --- the API, through the proxy -----------------------------------------------------------------------------
    def request(self, method, path, token=None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.url + path, headers=headers, timeout=15, **kwargs)

    def login(self, email, password):
        """The access token of a password login (asserts 200)."""
        response = self.request("POST", "/api/v1/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def admin_token(self, email, password):
        """An access token of the admin `email` that admin operations accept in production, where
        REQUIRE_MFA_FOR_ADMINS is on: the first call signs in, enrols an authenticator (pyotp plays the app) and
        confirms it, which makes that session two-factor; later calls refresh that session (a TOTP code works
        once, so signing in again within its 30-second step would be refused)."""
        if self._admin_refresh is None:
            signed_in = self.request("POST", "/api/v1/auth/login", json={"email": email, "password": password})
            assert signed_in.status_code == 200, signed_in.text
            access, self._admin_refresh = signed_in.json()["access_token"], signed_in.json()["refresh_token"]
            enrolment = self.request("POST", "/api/v1/users/me/mfa/totp", token=access, json={})
            assert enrolment.status_code == 200, enrolment.text
            code = pyotp.TOTP(enrolment.json()["secret"]).now()
            confirmed = self.request("POST", "/api/v1/users/me/mfa/totp/confirm", token=access, json={"code": code})
            assert confirmed.status_code == 200, confirmed.text
        refreshed = self.request("POST", "/api/v1/auth/refresh", json={"refresh_token": self._admin_refresh})
        assert refreshed.status_code == 200, refreshed.text
        self._admin_refresh = refreshed.json()["refresh_token"]
        return refreshed.json()["access_token"]

    def mail_to(self, address, timeout=60):
        """The plain text of the newest message Mailpit received for `address` (waits for it to arrive)."""
        def newest():
            found = requests.get(f"{self.mailpit}/api/v1/search", params={"query": f"to:{address}"}, timeout=5)
            messages = found.json()["messages"]
            if messages:
                return requests.get(f"{self.mailpit}/api/v1/message/{messages[0]['ID']}", timeout=5).json()["Text"]
            return None
        return wait_until(newest, timeout, f"a message to {address} in Mailpit")

    # --- cleaning up ----------------------------------------------------------------------------------------------
    def destroy(self):
        """Remove the project's containers, networks and volumes, and the image it built."""
        self.compose("down", "-v", "--remove-orphans", "--timeout", "60", check=False)
        with contextlib.suppress(docker.errors.APIError):
            self.engine.images.remove(self.image, force=True)
        self.engine.close()

