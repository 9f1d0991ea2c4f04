"""email compared byte for byte on MySQL/MariaDB

Emails are stored lower-cased; MySQL's default utf8mb4 collations would also fold accents and widths
("bóss@" = "boss@"), letting lookalike addresses collide or match each other. SQLite compares bytes already.

Revision ID: 5d1e0c2a9b7f
Revises: 3109c24e7958
Create Date: 2026-11-21 23:50:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql


revision = '5d1e0c2a9b7f'
down_revision = '3109c24e7958'
branch_labels = None
depends_on = None


def _is_mysql():
    return op.get_bind().dialect.name in ("mysql", "mariadb")


def upgrade():
    if _is_mysql():
        op.alter_column('users', 'email', existing_type=sa.String(length=254), existing_nullable=False,
                        type_=mysql.VARCHAR(length=254, collation='utf8mb4_bin'))


def downgrade():
    if _is_mysql():
        op.alter_column('users', 'email', existing_type=mysql.VARCHAR(length=254, collation='utf8mb4_bin'),
                        existing_nullable=False, type_=sa.String(length=254))
