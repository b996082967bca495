"""authorize transactions remember the session's last event when they began

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("authorize_transactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("baseline_sid", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("baseline_event_id", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("authorize_transactions", schema=None) as batch_op:
        batch_op.drop_column("baseline_event_id")
        batch_op.drop_column("baseline_sid")
