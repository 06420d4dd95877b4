"""list appends at 100M entries: the Indicator-id index keyed on 8 hex digits, not 47 characters

ix_entries_stix_id held every entry's whole STIX id ("indicator--" and a UUID, ~60 bytes an
entry with its row id): ~6 GB at 100M entries, written at a random place for every appended
entry, so a 1M append read and rewrote most of it through a 1 GiB page cache. The only query
by id (`exchange.entries_for_stix_ids`: a partner's Opinion naming our Indicators) reads one
list's entries by a few ids; 8 hex digits of the UUID (32 random bits) find them as well,
and the whole id is then compared on the rows. The index becomes ~20 bytes an entry.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_entries_stix_id", "list_entries")
    op.create_index("ix_entries_stix_key", "list_entries", [sa.text("substr(stix_id, 12, 8)")])


def downgrade() -> None:
    op.drop_index("ix_entries_stix_key", "list_entries")
    op.create_index("ix_entries_stix_id", "list_entries", ["stix_id"])
