"""Bulk seeding for the benchmarks: a fresh migrated schema and many users, fast (Core inserts, no hashing)."""
import datetime as dt
import tempfile

import sqlalchemy as sa

from app.entities import RoleGrant, User
from app.extensions import db

BASE = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def reset_schema(url):
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        meta = sa.MetaData()
        meta.reflect(conn)
        meta.drop_all(conn)
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def seed(app, start, stop, chunk=20000):
    """Insert users start..stop-1: one created per minute, every 40th an admin, every 10th inactive (so every
    filtered scenario fills a whole page already at 1,000 users: the pages compared hold the same work)."""
    users, grants = User.__table__, RoleGrant.__table__
    with app.app_context():
        engine = db.engine
        for low in range(start, stop, chunk):
            high = min(low + chunk, stop)
            rows = [{"id": i + 1, "email": f"user{i}@example.com", "name": f"User {i:07d}", "name_key": f"user {i:07d}",
                     "password_hash": None,
                     "is_active": i % 10 != 9, "token_version": 0,
                     "created_at": (BASE + dt.timedelta(minutes=i)).replace(tzinfo=None),
                     "updated_at": (BASE + dt.timedelta(minutes=i)).replace(tzinfo=None)} for i in range(low, high)]
            roles = [{"user_id": i + 1, "role": "user"} for i in range(low, high)]
            roles += [{"user_id": i + 1, "role": "admin"} for i in range(low, high) if i % 40 == 0]
            with engine.begin() as conn:
                conn.execute(users.insert(), rows)
                conn.execute(grants.insert(), roles)


def with_database(args, run, name):
    """Call `run(args, url)` on `args.database_url`, or on a SQLite file (`<name>.db`) in a temporary directory that
    is removed afterwards, so a benchmark leaves nothing in /tmp."""
    if args.database_url:
        return run(args, args.database_url)
    with tempfile.TemporaryDirectory(prefix=f"gatehouse-{name}-bench-") as scratch:
        return run(args, f"sqlite:///{scratch}/{name}.db")
