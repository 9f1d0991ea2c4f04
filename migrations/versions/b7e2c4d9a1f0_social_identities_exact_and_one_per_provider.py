"""social_identities: subjects compared byte for byte; one link per user and provider

An OpenID Connect `sub` is case-sensitive (Core 2); MySQL's default utf8mb4 collations fold case, accents and
trailing spaces, so "Alice" and "alice" would be one identity. SQLite compares bytes already. A user may be linked
to at most one account of each provider (the social login refuses a second subject; the constraint makes a race
of two first logins fail too).

Revision ID: b7e2c4d9a1f0
Revises: fdb37be85495
Create Date: 2026-11-22 02:10:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql


revision = 'b7e2c4d9a1f0'
down_revision = 'fdb37be85495'
branch_labels = None
depends_on = None

COLUMNS = (('provider', 32), ('subject', 255))


def _is_mysql():
    return op.get_bind().dialect.name in ("mysql", "mariadb")


def upgrade():
    if _is_mysql():
        for name, length in COLUMNS:
            op.alter_column('social_identities', name, existing_type=sa.String(length=length), existing_nullable=False,
                            type_=mysql.VARCHAR(length=length, collation='utf8mb4_bin'))
    with op.batch_alter_table('social_identities', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_social_identities_user_id_provider'), ['user_id', 'provider'])


def downgrade():
    with op.batch_alter_table('social_identities', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_social_identities_user_id_provider'), type_='unique')
    if _is_mysql():
        for name, length in COLUMNS:
            op.alter_column('social_identities', name,
                            existing_type=mysql.VARCHAR(length=length, collation='utf8mb4_bin'),
                            existing_nullable=False, type_=sa.String(length=length))
