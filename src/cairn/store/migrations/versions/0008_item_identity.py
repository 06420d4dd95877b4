"""items: identity is the location (raw path bytes, ordinal), not the display path; versions

Items were unique on (source, display path): two members named alike, or two names that
displayed alike (a raw 0xFF byte and a literal `\\xff`), collapsed into one row, and a file
changed between scans kept its first result only. Now: `raw_path` (the location's bytes,
path then member names joined by NUL), `ordinal` (repeated names in one file), `version`
(a changed file is a new row), `note`, `atime_note`, and `location_key` (the raw path's
SHA-256: the unique key holds it, not the raw path, because a PostgreSQL btree entry stops at
2,704 bytes; `path` gets a hash index there for the same reason). Existing rows get
ordinal 0, version 1 and a raw path read back from their display path; display paths are
rewritten to the new, reversible escaping (a literal backslash doubled, `!/` in a name
written `\\!/`).

Revision ID: 0008
Revises: 0007
"""

import hashlib
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_OLD_ESCAPE = re.compile(r"\\x([0-9a-f]{2})")


def _old_raw(segment: str) -> bytes:
    """Bytes of a segment shown with the old escaping (undecodable bytes as `\\xNN`)."""
    text = _OLD_ESCAPE.sub(lambda m: chr(0xDC00 + int(m.group(1), 16)), segment)
    return text.encode("utf-8", "surrogateescape")


def _display(raw: bytes) -> str:  # walk.display_name as of this revision
    raw = re.sub(rb"!(?=/)", rb"\\!", raw.replace(b"\\", b"\\\\"))
    return raw.decode("utf-8", "backslashreplace")


def _items(with_identity: bool) -> sa.TableClause:
    cols: list[sa.ColumnClause[Any]] = [
        sa.Column("id", sa.Integer, primary_key=True), sa.Column("path", sa.Text),
        sa.Column("parent_path", sa.Text)]
    if with_identity:
        cols += [sa.Column("raw_path", sa.LargeBinary), sa.Column("location_key", sa.LargeBinary)]
    return sa.table("items", *cols)


def _fill_identity(conn: sa.Connection) -> None:
    items = _items(True)
    plain = sa.and_(~items.c.path.contains("!", autoescape=True),
                    ~items.c.path.contains("\\", autoescape=True))
    raw: sa.ColumnElement[Any]
    if conn.dialect.name == "postgresql":
        raw = sa.func.convert_to(items.c.path, "UTF8")
    else:
        raw = sa.cast(items.c.path, sa.LargeBinary)
    conn.execute(sa.update(items).where(plain).values(raw_path=raw))
    rows = conn.execute(sa.select(items.c.id, items.c.path, items.c.parent_path)
                        .where(items.c.raw_path.is_(None))).all()
    for item_id, path, parent in rows:
        # old paths: members joined to their archive by '!/', nothing escaped but bytes
        segments = [_old_raw(s) for s in (path.split("!/") if parent is not None else [path])]
        shown = [_display(s) for s in segments]
        conn.execute(sa.update(items).where(items.c.id == item_id).values(
            raw_path=b"\0".join(segments), path="!/".join(shown),
            parent_path="!/".join(shown[:-1]) if parent is not None else None))
    if conn.dialect.name == "postgresql":
        conn.execute(sa.update(items).values(location_key=sa.func.sha256(items.c.raw_path)))
        return
    keyed = conn.execute(sa.select(items.c.id, items.c.raw_path)).all()
    for i in range(0, len(keyed), 1000):
        conn.execute(sa.update(items).where(items.c.id == sa.bindparam("item_id"))
                     .values(location_key=sa.bindparam("key")),
                     [{"item_id": item_id, "key": hashlib.sha256(raw_path).digest()}
                      for item_id, raw_path in keyed[i:i + 1000]])


def upgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("raw_path", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("location_key", sa.LargeBinary(32), nullable=True))
        batch.add_column(sa.Column("ordinal", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("atime_note", sa.Text(), nullable=True))
    _fill_identity(conn)
    with _children_set_aside(conn), op.batch_alter_table("items") as batch:
        batch.alter_column("raw_path", existing_type=sa.LargeBinary(), nullable=False)
        batch.alter_column("location_key", existing_type=sa.LargeBinary(32), nullable=False)
        batch.drop_constraint("uq_items_source_path", type_="unique")
        batch.create_unique_constraint(
            "uq_items_location", ["source_id", "location_key", "ordinal", "version"])
        batch.create_index("ix_items_path", ["path"], postgresql_using="hash")


def downgrade() -> None:
    conn = op.get_bind()
    with _children_set_aside(conn), op.batch_alter_table("items") as batch:
        batch.drop_index("ix_items_path")
        batch.drop_constraint("uq_items_location", type_="unique")
        # fails where two locations now share a display path: nothing is deleted here
        batch.create_unique_constraint("uq_items_source_path", ["source_id", "path"])
        for col in ("atime_note", "note", "version", "ordinal", "location_key", "raw_path"):
            batch.drop_column(col)


class _children_set_aside:  # noqa: N801 - reads as a statement in a `with`
    """SQLite changes a constraint by copying the table, dropping it and renaming the copy;
    with foreign keys on (they are: store.py), dropping `items` while `errors` and `matches`
    point at it fails, and the pragma cannot be turned off inside the migration's
    transaction. So the children are copied aside, emptied, and put back, ids unchanged."""

    CHILDREN = ("errors", "matches")

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.active = conn.dialect.name == "sqlite"

    def __enter__(self) -> None:
        if not self.active:
            return
        for name in self.CHILDREN:
            self.conn.exec_driver_sql(f"CREATE TEMP TABLE _aside_{name} AS SELECT * FROM {name}")
            self.conn.exec_driver_sql(f"DELETE FROM {name}")

    def __exit__(self, *exc: object) -> None:
        if not self.active or exc[0] is not None:
            return
        for name in self.CHILDREN:
            self.conn.exec_driver_sql(f"INSERT INTO {name} SELECT * FROM _aside_{name}")
            self.conn.exec_driver_sql(f"DROP TABLE _aside_{name}")
