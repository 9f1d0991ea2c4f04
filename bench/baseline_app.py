"""Hand-written minimal Flask service: the same work as Gatehouse's hot read paths, with no layers (the yardstick of
bench/http_vs_baseline.py; kept here so that the benchmark needs nothing outside the repository).

It is the yardstick for the layering tax: bearer token check (itsdangerous, max_age), the caller's row by primary
key (active check), the target row, JSON out. DATABASE_URL (required) selects the database; it keeps its own table.
Run: DATABASE_URL=sqlite:///$PWD/baseline.db BASELINE_USERS=1000 gunicorn -w 2 baseline_app:app ; GET /token/<id> gives
a token for the /me and /users routes.
"""
import datetime as dt
import os
import sys

from flask import Flask, abort, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, create_engine, func, insert, select

app = Flask(__name__)
url = os.environ.get("DATABASE_URL") or sys.exit("baseline_app: set DATABASE_URL (e.g. sqlite:///$PWD/baseline.db)")
engine = create_engine(url, pool_pre_ping=True, pool_size=5)
meta = MetaData()
users = Table("baseline_users", meta,
              Column("id", Integer, primary_key=True), Column("email", String(254), unique=True, nullable=False),
              Column("name", String(100), nullable=False), Column("roles", String(100), nullable=False),
              Column("is_active", Boolean, nullable=False), Column("created_at", DateTime, nullable=False),
              Column("updated_at", DateTime, nullable=False))
meta.create_all(engine)
with engine.begin() as c:
    n = c.execute(select(func.count()).select_from(users)).scalar()
    want = int(os.environ.get("BASELINE_USERS", "1000"))
    if n < want:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        c.execute(insert(users), [{"email": f"u{i}@example.com", "name": f"user {i}", "roles": "user",
                                   "is_active": True, "created_at": now, "updated_at": now} for i in range(n, want)])
ser = URLSafeTimedSerializer("baseline-secret", salt="access")
COLS = (users.c.id, users.c.email, users.c.name, users.c.roles, users.c.is_active, users.c.created_at,
        users.c.updated_at)


def row_json(r):
    return {"id": r.id, "email": r.email, "name": r.name, "roles": r.roles.split(","), "is_active": r.is_active,
            "created_at": r.created_at.isoformat() + "Z", "updated_at": r.updated_at.isoformat() + "Z"}


def caller(c):
    h = request.headers.get("Authorization", "")
    if not h.startswith("Bearer "):
        abort(401)
    try:
        uid = ser.loads(h[7:], max_age=900)["uid"]
    except (BadSignature, KeyError, TypeError):
        abort(401)
    r = c.execute(select(*COLS).where(users.c.id == uid)).first()
    if r is None or not r.is_active:
        abort(401)
    return r


@app.get("/token/<int:uid>")
def token(uid):
    return {"access_token": ser.dumps({"uid": uid})}


@app.get("/me")
def me():
    with engine.connect() as c:
        return row_json(caller(c))


@app.get("/users/<int:uid>")
def get_user(uid):
    with engine.connect() as c:
        caller(c)
        r = c.execute(select(*COLS).where(users.c.id == uid)).first()
    if r is None:
        abort(404)
    return row_json(r)


@app.get("/users")
def list_users():
    limit = min(int(request.args.get("limit", 20)), 100)
    after = int(request.args.get("cursor", 0) or 0)
    with engine.connect() as c:
        caller(c)
        rows = c.execute(select(*COLS).where(users.c.id > after).order_by(users.c.id).limit(limit)).all()
    return {"items": [row_json(r) for r in rows], "next_cursor": str(rows[-1].id) if len(rows) == limit else None}
