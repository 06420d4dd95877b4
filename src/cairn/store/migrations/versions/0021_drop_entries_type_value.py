"""list appends at 10M+ entries: drop ix_entries_type_value (signal_type, value)

No query reads it: matching goes through the list index (scan/listindex.py), and every
lookup of an entry by its value names the list, which uq_entries_list_type_value
(list_id, signal_type, value) serves. Yet every imported entry was written into it: an
index keyed on a random 64-digit value, of about the size of the unique one. Appending 1M
PDQ hashes to a 12M-entry list spent a quarter of its insert keeping it: 42 s of CPU with
it, 31 s without (the insert alone, rolled back; `cairn lists import --append` end to end is
bench/bench_append.py).

Revision ID: 0021
Revises: 0020
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_entries_type_value", "list_entries")


def downgrade() -> None:
    op.create_index("ix_entries_type_value", "list_entries", ["signal_type", "value"])
