"""remembered devices

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-14

Remembered browsers (docs/design.md "Remembered devices"): a hashed cookie token and
the second-factor event they replay.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('remembered_devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=200), nullable=True),
    sa.Column('method', sa.String(length=30), nullable=False),
    sa.Column('amr', sa.JSON(), nullable=False),
    sa.Column('credential_id', sa.String(length=200), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('event_at', sa.BigInteger(), nullable=False),
    sa.Column('user_agent', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('last_used_at', sa.BigInteger(), nullable=True),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('remembered_devices') as batch_op:
        batch_op.create_index('ix_remembered_devices_user_id', ['user_id'], unique=False)
        batch_op.create_index('ix_remembered_devices_expires_at', ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('remembered_devices') as batch_op:
        batch_op.drop_index('ix_remembered_devices_expires_at')
        batch_op.drop_index('ix_remembered_devices_user_id')
    op.drop_table('remembered_devices')
