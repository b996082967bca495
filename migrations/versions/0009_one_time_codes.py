"""one-time codes by email and SMS

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23

Verified e-mail address and phone number on users, and the hashed one-time
codes sent to them (docs/design.md "Factors": one-time codes by email or SMS).

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('email_verified_at', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('phone', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('phone_verified_at', sa.BigInteger(), nullable=True))
    op.create_table('one_time_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('purpose', sa.String(length=10), nullable=False),
    sa.Column('destination', sa.String(length=320), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('tries', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.Column('used_at', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('one_time_codes') as batch_op:
        batch_op.create_index('ix_one_time_codes_user_id', ['user_id'], unique=False)
        batch_op.create_index('ix_one_time_codes_destination', ['destination'], unique=False)


def downgrade():
    with op.batch_alter_table('one_time_codes') as batch_op:
        batch_op.drop_index('ix_one_time_codes_destination')
        batch_op.drop_index('ix_one_time_codes_user_id')
    op.drop_table('one_time_codes')
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('phone_verified_at')
        batch_op.drop_column('phone')
        batch_op.drop_column('email_verified_at')
