"""Seed the default acr ladder.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The default acr ladder (docs/design.md "The ladder"), frozen here as data so this
# migration does not change when the code does.
DEFAULT_LADDER = {   'version': 1,
    'levels': [   {   'acr': 'urn:belay:acr:1fa',
                      'level': 1,
                      'description': 'One authentication factor: any single event.',
                      'lifetime': None,
                      'rule': [[{'min_events': 1}]]},
                  {   'acr': 'urn:belay:acr:2fa',
                      'level': 2,
                      'description': 'Two factors from different categories (never two knowledge '
                                     'factors), or one passkey with user verification.',
                      'lifetime': {'idle_seconds': 3600, 'absolute_seconds': 86400},
                      'rule': [[{'distinct_categories': 2}], [{'method': 'passkey', 'uv': True}]]},
                  {   'acr': 'urn:belay:acr:phr',
                      'level': 3,
                      'description': 'Phishing-resistant: a passkey with user verification.',
                      'lifetime': {'idle_seconds': 900, 'absolute_seconds': 43200},
                      'rule': [[{'method': 'passkey', 'uv': True}]]},
                  {   'acr': 'urn:belay:acr:phrh',
                      'level': 4,
                      'description': 'Phishing-resistant, hardware-bound: a device-bound passkey '
                                     '(backup-eligible flag clear) with user verification.',
                      'lifetime': {'idle_seconds': 900, 'absolute_seconds': 43200},
                      'rule': [[{'method': 'passkey', 'uv': True, 'backup_eligible': False}]]}]}


def upgrade():
    settings = sa.table("settings", sa.column("key", sa.String), sa.column("value", sa.JSON))
    op.bulk_insert(settings, [{"key": "ladder", "value": DEFAULT_LADDER}])


def downgrade():
    op.execute("DELETE FROM settings WHERE key = 'ladder'")
