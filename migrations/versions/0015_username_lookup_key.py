"""usernames match case-insensitively: users.username_key, unique

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

Each user gets the key sign-in matches (provider/storage/usernames.py: NFKC,
case-folded, NFKC), under a unique index; the username itself stays as typed.

Two existing users whose names differ only by case (or by Unicode width or
compatibility form, "Alice" / "alice") cannot both keep their name under that
index. The migration does not choose between them: it stops before changing
anything and names them, so the operator renames one and runs it again
(docs/admin.md "Usernames").

"""
import unicodedata

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def lookup_key(username):
    # A copy of provider.storage.usernames.lookup_key as of this revision: a
    # migration must not change when the code does.
    folded = unicodedata.normalize("NFKC", username).casefold()
    return unicodedata.normalize("NFKC", folded)


def collisions(rows):
    """{key: [(id, username), …]} for every key that more than one user has."""
    by_key = {}
    for user_id, username in rows:
        by_key.setdefault(lookup_key(username), []).append((user_id, username))
    return {key: users for key, users in by_key.items() if len(users) > 1}


def upgrade():
    connection = op.get_bind()
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('username', sa.String))
    rows = [(r.id, r.username) for r in connection.execute(sa.select(users.c.id, users.c.username))]
    clashes = collisions(rows)
    if clashes:
        named = "; ".join(
            " and ".join(f"{name!r} (id {user_id})" for user_id, name in sorted(group))
            for group in sorted(clashes.values())
        )
        raise RuntimeError(
            "Usernames now match case-insensitively, and these users' names differ only "
            f"by case or Unicode form: {named}. Nothing was changed. Rename all but one "
            "of each group (for example: UPDATE users SET username = 'alice-2' WHERE id = …), "
            "then run the upgrade again (docs/admin.md \"Usernames\")."
        )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('username_key', sa.String(length=300), nullable=True))
    keyed = sa.table('users', sa.column('id', sa.Integer), sa.column('username_key', sa.String))
    for user_id, username in rows:
        connection.execute(
            keyed.update().where(keyed.c.id == user_id).values(username_key=lookup_key(username))
        )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('username_key', existing_type=sa.String(length=300), nullable=False)
        batch_op.create_index(batch_op.f('ix_users_username_key'), ['username_key'], unique=True)


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_username_key'))
        batch_op.drop_column('username_key')
