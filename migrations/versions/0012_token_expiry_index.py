"""an index on tokens' access expiry, for the purge

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

``belay purge`` now deletes tokens a day after both their access and their
refresh token expired, oldest first in small batches; the index keeps each
batch a range scan however many tokens the table holds.

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tokens') as batch_op:
        batch_op.create_index('ix_tokens_access_expires_at', ['access_expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('tokens') as batch_op:
        batch_op.drop_index('ix_tokens_access_expires_at')
