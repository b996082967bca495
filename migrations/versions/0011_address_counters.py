"""sign-in attempts per client address

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

``address_counters``: password and PIN sign-ins from one client address (an
IPv4 address or an IPv6 /64) that have not succeeded, in a fixed window, so
a guessing storm from a few addresses is refused before it costs argon2 work
(docs/security.md case 58). The rows are counters of a few minutes: nothing
to carry over, and a downgrade simply drops them.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('address_counters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('window_ends_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('address')
    )
    with op.batch_alter_table('address_counters') as batch_op:
        batch_op.create_index('ix_address_counters_window_ends_at', ['window_ends_at'], unique=False)


def downgrade():
    with op.batch_alter_table('address_counters') as batch_op:
        batch_op.drop_index('ix_address_counters_window_ends_at')
    op.drop_table('address_counters')
