"""a time zone per user

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

``users.zoneinfo``: the IANA time zone (OIDC ``zoneinfo``) in which a user's
pages show dates; NULL means the deployment's ``DEFAULT_TIMEZONE``.

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('zoneinfo', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('zoneinfo')
