"""The store: one SQLite file under $CAIRN_HOME (PostgreSQL for servers), migrated by Alembic.

`Store` holds the engine, runs the migrations and writes the custody log; the work is done by
one repository per area, reached from it and sharing its engine:

    store.cases    cases and sources (common.py: errors, `now`, the `Repository` base)
    store.runs     scan runs
    store.records  items with their signals, findings and errors
    store.matches  matches and their status
    store.lists    hash lists, their entries, export and the list generations

The other areas (people.py, platform.py, users.py, reviews.py, exchange.py, items.py) are
modules whose functions and classes take the `Store`; they write custody through
`Store.log_change` in their own transactions, as the repositories do.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, event, select, text
from sqlalchemy.dialects import postgresql, sqlite

from cairn import default_home
from cairn.store import custody
from cairn.store import schema as t
from cairn.store.cases import Cases
from cairn.store.common import StoreError
from cairn.store.custody import STORE_CHAIN, Actor, case_chain
from cairn.store.lists import Lists
from cairn.store.matches import Matches
from cairn.store.records import Records
from cairn.store.runs import Runs

HERE = Path(__file__).parent




MIGRATION_LOCK = 0x6361_6972_6E00  # pg_advisory lock key: "cairn"


class Store:
    """The database of one Cairn home: its engine, its custody log, and one repository per
    area (`cases`, `runs`, `records`, `matches`, `lists`) over SQLAlchemy Core."""

    def __init__(self, url: str, home: Path | None = None) -> None:
        self.url = url
        self.home = home  # where derived files (the list index) live; None: keep in memory
        self.engine: Engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._migrate()
        self._actor: Actor | None = None
        self.cases = Cases(self)
        self.runs = Runs(self)
        self.records = Records(self)
        self.matches = Matches(self)
        self.lists = Lists(self)

    @property
    def actor(self) -> Actor:
        """Who the custody log names for changes made through this store (loaded on first
        use: the examiner's signing key is read only when something is written)."""
        if self._actor is None:
            self._actor = Actor.current(self.home)
        return self._actor

    @actor.setter
    def actor(self, value: Actor) -> None:
        self._actor = value

    def log_change(self, c: Connection, chain: str, action: str, subject: str, details: dict,
                   case_id: int | None = None) -> dict:
        """One custody entry, in the transaction of connection `c` (the change's own): what
        every repository's change writes beside its rows."""
        return custody.append(c, self.actor, chain, action, subject, details, case_id)

    def log_event(self, case_id: int | None, action: str, subject: str, details: dict) -> dict:
        """A custody entry for an event that changes nothing else in the store (an export,
        a report, a verification): in the case's chain, or the store's."""
        with self.engine.begin() as c:
            chain = case_chain(case_id) if case_id is not None else STORE_CHAIN
            return self.log_change(c, chain, action, subject, details, case_id)

    def custody_signed(self) -> bool:
        """Whether any chain of the log is signed (then every writer needs a key)."""
        with self.engine.connect() as c:
            return c.execute(select(t.custody.c.id).where(t.custody.c.signature.is_not(None))
                             .limit(1)).first() is not None

    def custody_entries(self, case_id: int | None = None, chain: str | None = None
                        ) -> list[dict]:
        """Custody entries as written (by `id`): of one case's chain, of one chain, or all."""
        q = select(t.custody).order_by(t.custody.c.id)
        if case_id is not None:
            q = q.where(t.custody.c.chain == case_chain(case_id))
        elif chain is not None:
            q = q.where(t.custody.c.chain == chain)
        with self.engine.connect() as c:
            return [custody.row_entry(r) for r in c.execute(q).mappings()]

    @classmethod
    def open(cls, home: str | Path | None = None) -> Store:
        home_path = Path(home) if home else default_home()
        home_path.mkdir(parents=True, exist_ok=True)
        url = os.environ.get("CAIRN_DATABASE_URL")
        return cls(url or f"sqlite:///{home_path / 'cairn.db'}", home_path)

    def _migrate(self) -> None:
        """Upgrade to head, one process at a time: two first runs on a fresh home would
        otherwise both create the tables ("table cases already exists")."""
        cfg = Config(str(HERE / "alembic.ini"))
        cfg.set_main_option("script_location", str(HERE / "migrations"))
        with self._migration_lock(), self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":  # held until this transaction ends
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def _migration_lock(self) -> contextlib.AbstractContextManager:
        """An exclusive flock beside an SQLite store (released by the kernel if we die)."""
        if self.engine.dialect.name != "sqlite":
            return contextlib.nullcontext()
        db = self.engine.url.database
        if self.home is not None:
            path = Path(self.home) / "migrate.lock"
        elif db and db != ":memory:" and not db.startswith("file:"):
            path = Path(db + ".migrate.lock")
        else:
            return contextlib.nullcontext()
        return _flocked(path)

    def close(self) -> None:
        self.engine.dispose()

    # -- helpers -------------------------------------------------------------------------
    def insert_ignore(self, table: Table):  # noqa: ANN201 - dialect-specific Insert
        """INSERT that skips rows violating a unique constraint: what makes rescans idempotent."""
        if self.engine.dialect.name == "sqlite":
            return sqlite.insert(table).on_conflict_do_nothing()
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        raise StoreError(f"unsupported database {self.engine.dialect.name}")


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA cache_size=-131072")  # 128 MiB: million-row list imports stay in cache
    cur.close()


@contextlib.contextmanager
def _flocked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits for the other process's migration
        yield
    finally:
        os.close(fd)  # releases the lock

