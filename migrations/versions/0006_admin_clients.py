"""admin clients and dynamic registration

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

Clients marked for administration (``belay:admin`` by client_credentials,
docs/admin.md) and RFC 7592 registration access tokens.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clients') as batch_op:
        batch_op.add_column(
            sa.Column('is_admin', sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column('registration_access_token_hash', sa.String(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column('registration_metadata', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('clients') as batch_op:
        batch_op.drop_column('registration_metadata')
        batch_op.drop_column('registration_access_token_hash')
        batch_op.drop_column('is_admin')
