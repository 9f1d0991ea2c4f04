"""Load profile for Gatehouse (Locust): members who signed up and browse the directory, newcomers signing up, and a
few admins creating accounts. tests/system/test_load.py runs it headless through nginx; by hand:

    GATEHOUSE_ADMIN_EMAIL=admin@example.com GATEHOUSE_ADMIN_PASSWORD='...' \\
        .venv/bin/locust -f tests/system/locustfile.py --headless -u 50 -r 10 -t 60s --host http://127.0.0.1:8080

The mix per member (task weights): GET /users/me 10, list users 6, get a user 6, log in again 1, and newcomers
registering 2 (plus each member's own registration and login at start). Every password hash (register, login,
admin create) costs argon2id time on the server, so those stay a modest share, as in real traffic.

Any answer other than the expected status is a failure (the test asserts there are none).
"""
import os
import random
import uuid

from locust import HttpUser, between, task
from locust.exception import StopUser

PASSWORD = "correct horse battery"
TIMEOUT = 30  # seconds per request: a slower answer is a failure, not a hang


def new_email(kind):
    return f"load-{kind}-{uuid.uuid4().hex[:16]}@example.com"


class Member(HttpUser):
    """Signs up, signs in, then reads: themselves, the directory, other people."""

    weight = 12
    wait_time = between(0.5, 2.0)

    def on_start(self):
        self.email = new_email("member")
        self.user_ids, self.headers = [], {}
        with self.client.post("/api/v1/auth/register", json={"email": self.email, "name": "Load Member",
                                                              "password": PASSWORD},
                              name="POST /auth/register", timeout=TIMEOUT, catch_response=True) as response:
            if response.status_code != 201:
                response.failure(f"register answered {response.status_code}")
                raise StopUser()  # counted once, not again as the 401s of a member without an account
            self.user_ids.append(response.json()["id"])
        self.login()

    def login(self):
        with self.client.post("/api/v1/auth/login", json={"email": self.email, "password": PASSWORD},
                              name="POST /auth/login", timeout=TIMEOUT, catch_response=True) as response:
            if response.status_code == 200:
                self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
            else:
                response.failure(f"login answered {response.status_code}")

    @task(10)
    def me(self):
        self.client.get("/api/v1/users/me", headers=self.headers, name="GET /users/me", timeout=TIMEOUT)

    @task(6)
    def list_users(self):
        with self.client.get("/api/v1/users", params={"limit": 20}, headers=self.headers, name="GET /users",
                             timeout=TIMEOUT, catch_response=True) as response:
            if response.status_code == 200:
                self.user_ids = [item["id"] for item in response.json()["items"]] or self.user_ids
            else:
                response.failure(f"list answered {response.status_code}")

    @task(6)
    def get_user(self):
        user_id = random.choice(self.user_ids or [0])  # noqa: S311  (which user to read, not a secret)
        self.client.get(f"/api/v1/users/{user_id}", headers=self.headers, name="GET /users/<id>", timeout=TIMEOUT)

    @task(1)
    def login_again(self):
        self.login()

    @task(2)
    def newcomer_registers(self):
        self.client.post("/api/v1/auth/register", json={"email": new_email("newcomer"), "name": "Newcomer",
                                                        "password": PASSWORD},
                         name="POST /auth/register", timeout=TIMEOUT)


class Admin(HttpUser):
    """Creates accounts and looks them up (GATEHOUSE_ADMIN_EMAIL / GATEHOUSE_ADMIN_PASSWORD, created beforehand with
    `flask create-admin`)."""

    fixed_count = 2
    wait_time = between(1.0, 3.0)

    def on_start(self):
        response = self.client.post("/api/v1/auth/login", name="POST /auth/login", timeout=TIMEOUT,
                                    json={"email": os.environ["GATEHOUSE_ADMIN_EMAIL"],
                                          "password": os.environ["GATEHOUSE_ADMIN_PASSWORD"]})
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"} if response.ok else {}
        self.created = []

    @task(2)
    def create_user(self):
        with self.client.post("/api/v1/users", headers=self.headers, name="POST /users (admin)", timeout=TIMEOUT,
                              json={"email": new_email("staff"), "name": "Created By Admin", "password": PASSWORD,
                                    "roles": ["user"]}, catch_response=True) as response:
            if response.status_code == 201:
                self.created.append(response.json()["id"])
            else:
                response.failure(f"admin create answered {response.status_code}")

    @task(3)
    def get_created(self):
        if self.created:
            user_id = random.choice(self.created)  # noqa: S311  (which user to read, not a secret)
            self.client.get(f"/api/v1/users/{user_id}", headers=self.headers,
                            name="GET /users/<id>", timeout=TIMEOUT)
        else:
            self.client.get("/api/v1/users", params={"limit": 20}, headers=self.headers, name="GET /users",
                            timeout=TIMEOUT)
