"""one-time codes bound to what they were sent for

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

``one_time_codes.context_hash``: an HMAC of the context a code was sent for
(the browser session and authorize transaction of a sign-in, or the session
and page of a step-up); a code is looked up only there (docs/security.md
case 50). Codes sent before this revision have none and match nothing: they
lapse within minutes anyway.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('one_time_codes') as batch_op:
        batch_op.add_column(sa.Column('context_hash', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('one_time_codes') as batch_op:
        batch_op.drop_column('context_hash')
