"""items.origin: where an item came from inside a disk image (image/volume/file system/path
and its state: allocated, deleted, carved), or what a container was (an E01's format, its
segments, its verified hashes); items.size as a 64-bit integer (a disk image is over 2 GiB)

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("origin", sa.Text(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":  # SQLite's INTEGER is 64-bit already
        op.alter_column("items", "size", type_=sa.BigInteger(), existing_nullable=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("items", "size", type_=sa.Integer(), existing_nullable=True)
    with op.batch_alter_table("items") as batch:
        batch.drop_column("origin")
