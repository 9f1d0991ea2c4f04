"""users.name_key: lower-cased name for indexed, case-insensitive prefix search

Revision ID: 8c4f6a1e2d3b
Revises: 5d1e0c2a9b7f
Create Date: 2026-11-22 00:05:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql


revision = '8c4f6a1e2d3b'
down_revision = '5d1e0c2a9b7f'
branch_labels = None
depends_on = None

# Compared byte for byte on MySQL/MariaDB, like email: the values are lower-cased already.
NAME_KEY = sa.String(length=200).with_variant(mysql.VARCHAR(length=200, collation='utf8mb4_bin'), 'mysql', 'mariadb')


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_key', NAME_KEY, nullable=True))
    # Existing rows: the database's LOWER() (the application keeps it with Python's str.lower() from now on).
    op.execute("UPDATE users SET name_key = LOWER(name)")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('name_key', existing_type=NAME_KEY, nullable=False)
        batch_op.create_index(batch_op.f('ix_users_name_key_id'), ['name_key', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_name_key_id'))
        batch_op.drop_column('name_key')
