"""`flask create-admin`."""
from tests.support import DEFAULT_PASSWORD


def test_create_admin_creates_an_admin_who_can_log_in(app, client):
    result = app.test_cli_runner().invoke(args=["create-admin", "--email", "Root@Example.com", "--name", "Root",
                                                "--password", DEFAULT_PASSWORD])
    assert result.exit_code == 0, result.output
    assert "Created admin root@example.com" in result.output
    token = client.post_json("/api/v1/auth/login", {"email": "root@example.com", "password": DEFAULT_PASSWORD})
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token.json['access_token']}"}).json
    assert me["roles"] == ["admin", "user"]


def test_create_admin_prompts_for_the_password(app, client):
    result = app.test_cli_runner().invoke(args=["create-admin", "--email", "p@example.com"],
                                          input=f"{DEFAULT_PASSWORD}\n{DEFAULT_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    client.post_json("/api/v1/auth/login", {"email": "p@example.com", "password": DEFAULT_PASSWORD}, status=200)


def test_create_admin_promotes_an_existing_user_without_touching_the_password(app, client, users):
    user = users.create()
    result = app.test_cli_runner().invoke(args=["create-admin", "--email", user.email.upper(),
                                                "--password", "another password"])
    assert result.exit_code == 0, result.output
    assert "Promoted" in result.output
    assert "password unchanged" in result.output
    assert users.get(user.id).roles == ["admin", "user"]
    client.post_json("/api/v1/auth/login", {"email": user.email, "password": user.password}, status=200)


def test_create_admin_reads_the_first_admin_variables(app, client, monkeypatch):
    monkeypatch.setenv("FIRST_ADMIN_EMAIL", "boot@example.com")
    monkeypatch.setenv("FIRST_ADMIN_PASSWORD", DEFAULT_PASSWORD)
    result = app.test_cli_runner().invoke(args=["create-admin"])
    assert result.exit_code == 0, result.output
    client.post_json("/api/v1/auth/login", {"email": "boot@example.com", "password": DEFAULT_PASSWORD}, status=200)


def test_create_admin_enforces_the_password_policy(app, users):
    result = app.test_cli_runner().invoke(args=["create-admin", "--email", "w@example.com", "--password", "short"])
    assert result.exit_code != 0
    assert "Length" in result.output
    assert users.count() == 0
