"""the development outbox

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

``dev_outbox``: with BELAY_DEV_OUTBOX (development only, an http://localhost
issuer), codes by email and SMS are kept here instead of being sent, and
listed at /dev/outbox by every server process. Nothing to carry over: a
downgrade drops the table.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('dev_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade():
    op.drop_table('dev_outbox')
