"""exchange: partners and their access to lists, peers and pull checkpoints, opinions;
list_entries: added_at (TAXII date_added) and stix_id (the Indicator it is shared as)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("list_entries") as batch:
        batch.add_column(sa.Column("added_at", sa.String(32), nullable=True))
        batch.add_column(sa.Column("stix_id", sa.String(64), nullable=True))
        batch.create_index("ix_entries_stix_id", ["stix_id"])
    op.create_table(
        "partners",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "list_access",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("list_id", sa.Integer(), sa.ForeignKey("lists.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("partner_id", sa.Integer(),
                  sa.ForeignKey("partners.id", ondelete="CASCADE"), nullable=False),
        sa.Column("can_read", sa.Integer(), nullable=False),
        sa.Column("can_write", sa.Integer(), nullable=False),
        sa.UniqueConstraint("list_id", "partner_id", name="uq_access_list_partner"),
    )
    op.create_table(
        "peers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("user", sa.String(200), nullable=True),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("added_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("peer_id", sa.Integer(), sa.ForeignKey("peers.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("collection", sa.String(200), nullable=False),
        sa.Column("list_name", sa.String(200), nullable=False),
        sa.Column("added_after", sa.String(40), nullable=True),
        sa.Column("updated_at", sa.String(32), nullable=True),
        sa.UniqueConstraint("peer_id", "collection", name="uq_checkpoint_peer_collection"),
    )
    op.create_table(
        "opinions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entry_id", sa.Integer(),
                  sa.ForeignKey("list_entries.id", ondelete="CASCADE"), nullable=False),
        sa.Column("opinion", sa.String(20), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("stix_id", sa.String(64), nullable=True),
        sa.Column("shared_at", sa.String(32), nullable=True),
        sa.UniqueConstraint("entry_id", "author", name="uq_opinions_entry_author"),
    )


def downgrade() -> None:
    for table in ("opinions", "checkpoints", "peers", "list_access", "partners"):
        op.drop_table(table)
    with op.batch_alter_table("list_entries") as batch:
        batch.drop_index("ix_entries_stix_id")
        batch.drop_column("stix_id")
        batch.drop_column("added_at")
