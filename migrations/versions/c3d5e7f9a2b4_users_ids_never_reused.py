"""users: ids are never reused on SQLite (AUTOINCREMENT)

Without AUTOINCREMENT, SQLite gives a new row the highest id in the table plus one, so deleting the newest account
and creating another reused its id: the new account inherited the deleted one's audit trail (`GET /audit-events?
user_id=N`) and anything else that still named it. With it, ids only grow (sqlite_sequence remembers the highest
ever used), as on MySQL/MariaDB, where this migration changes nothing. SQLite cannot alter a table's key: the batch
rebuilds `users` (copy, drop, rename; migrations/env.py keeps foreign keys off meanwhile, so no grant, session or
link is cascaded away), and the sequence starts after the highest id still present.

Revision ID: c3d5e7f9a2b4
Revises: b7e2c4d9a1f0
Create Date: 2026-11-23 22:40:00

"""
from alembic import op


revision = 'c3d5e7f9a2b4'
down_revision = 'b7e2c4d9a1f0'
branch_labels = None
depends_on = None


def _rebuild_users(autoincrement):
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table('users', recreate='always',
                              table_kwargs={'sqlite_autoincrement': autoincrement}) as batch_op:
        del batch_op  # nothing else changes: the rebuild itself changes the key


def upgrade():
    _rebuild_users(True)


def downgrade():
    _rebuild_users(False)
