"""The repository of a seized platform's records: one import is one transaction and one
custody entry; reads for linking, resolution and deconfliction are SQL that groups on indexed
columns, so millions of rows are never loaded to be compared in Python.

An import reads every file once, streaming: rows are checked (platform/records.py) and
inserted in batches on the import's own connection; a refused row is counted and named (file,
line, reason) and the rest goes on; anything that stops the import as a whole (a file that
cannot be read, a required column missing, the same files imported before into the case)
rolls back every row of it: nothing, not even the log entry, is written.

At the issue's scale (1M accounts, 5M payments, 20M access-log rows) keeping the secondary
indexes up to date row by row was what made the import grow faster than its rows: the
access log's index is keyed by a hash, so each insert lands on a random page, and once the
index outgrows SQLite's page cache every insert is a page miss (1/10 scale 54 s, full scale
1,203 s). So on SQLite an import that is large next to what its tables already hold drops
those tables' secondary indexes inside its transaction and builds them again, one sort each,
before it commits: another connection meanwhile reads the snapshot from before, indexes
included, and a failed import rolls the indexes back with its rows. On PostgreSQL the rows
go in with COPY, and the indexes stay: DROP INDEX would lock the table, every case's rows
in it, against readers until the import commits.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, and_, func, insert, or_, select, update

from cairn.cases.people import PeopleError
from cairn.platform import records as rec
from cairn.store import schema as t
from cairn.store.common import inserted_id, now
from cairn.store.custody import case_chain
from cairn.store.people import People
from cairn.store.store import Store

BATCH = 5_000
# A table's secondary indexes are rebuilt around an import when its file is at least this
# big and likely brings at least as many rows as the table holds (BYTES_PER_ROW: shorter
# than any row worth the name, so the estimate errs towards rebuilding). Below that, upkeep
# row by row is cheap: the indexes fit in the page cache.
REBUILD_BYTES = 16 << 20
BYTES_PER_ROW = 64
KEEP_REJECTED = 1_000  # named in the result and the custody entry; all are counted
TABLE_OF = {"payments": t.platform_payments, "access_logs": t.platform_access,
            "transfers": t.platform_transfers}
ROWS_OF = {"accounts": t.platform_emails, **TABLE_OF}  # the table a file's bulk goes to
ACCOUNT_COLUMNS = ("case_id", "import_id", "platform", "account", "names", "created", "country")
EMAIL_COLUMNS = ("case_id", "platform", "account", "given", "email")


class PlatformError(PeopleError):
    """The import or query is refused as a whole; nothing was written."""


class PlatformStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # -- import --------------------------------------------------------------------------
    def import_records(self, case_id: int, folder: Path, platform: str,
                       mapping: rec.Mapping) -> dict:
        try:
            files = rec.table_files(folder, mapping)
        except rec.MappingError as e:
            raise PlatformError(str(e)) from None
        counts = {table: 0 for table in rec.TABLES}
        rejected: list[rec.Rejected] = []
        n_rejected = 0
        described: list[dict] = []
        with self.engine.begin() as c:
            People(self.store)._open_case(c, case_id)
            iid = inserted_id(c.execute(insert(t.platform_imports).values(
                case_id=case_id, platform=platform, imported_at=now(), details="{}")))
            known = set(c.execute(select(t.platform_accounts.c.account).where(
                t.platform_accounts.c.case_id == case_id,
                t.platform_accounts.c.platform == platform)).scalars())
            if "accounts" not in files and not known:
                raise PlatformError(f"{folder}: no accounts table, and the case has no "
                                    f"accounts of platform {platform!r} yet")
            dropped = self._drop_indexes(c, files)
            for table, path in files.items():  # TABLES order: accounts first
                with open(path, "rb") as raw:
                    hashing = rec.HashingReader(raw)
                    f = io.BufferedReader(hashing, 1 << 20)
                    batch: list[tuple] = []
                    emails: list[tuple] = []
                    rejected_before = n_rejected
                    accounts = table == "accounts"
                    try:
                        # values in rec.TABLES order: the account (or the id) comes first
                        for line, row, error in rec.checked_rows(f, path, table, mapping):
                            # _refers only where it refuses: an account twice, or unknown
                            if row is not None and (row[0] in known) is accounts:
                                error = self._refers(table, row[0], known)
                            if error is not None or row is None:
                                n_rejected += 1
                                if len(rejected) < KEEP_REJECTED:
                                    rejected.append(rec.Rejected(path.name, line,
                                                                 error or "empty"))
                                continue
                            counts[table] += 1
                            if table == "accounts":
                                account, names, given, created, country = row
                                known.add(account)
                                batch.append((case_id, iid, platform, account,
                                              json.dumps(names), created, country))
                                emails += [(case_id, platform, account, e,
                                            rec.normalise_email(e)) for e in given]
                            elif table == "access_logs":
                                batch.append((case_id, platform, *row,
                                              rec.ip_ua_key(row[2], row[3])))
                            else:
                                batch.append((case_id, platform, *row))
                            if len(batch) >= BATCH:
                                self._flush(c, table, batch, emails)
                        self._flush(c, table, batch, emails)
                    except rec.MappingError as e:
                        raise PlatformError(str(e)) from None
                    except OSError as e:
                        raise PlatformError(f"{path}: {e}") from None
                    hashing.finish()
                described.append({"table": table, "file": path.name,
                                  "sha256": hashing.sha256.hexdigest(),
                                  "size": hashing.size, "imported": counts[table],
                                  "rejected": n_rejected - rejected_before})
            for index in dropped:
                index.create(c)
            self._refuse_repeat(c, case_id, platform, iid, described)
            details = {"platform": platform, "folder": str(folder), "files": described,
                       "counts": counts, "rejected": n_rejected,
                       "rejected_rows": [r.to_dict() for r in rejected[:100]],
                       "mapping": mapping.describe()}
            c.execute(update(t.platform_imports).where(t.platform_imports.c.id == iid)
                      .values(details=json.dumps(details)))
            self.store.log_change(c, case_chain(case_id), "platform.imported",
                                  f"platform:{platform}", details, case_id)
        return details | {"import": iid,
                          "rejected_rows": [r.to_dict() for r in rejected]}

    @staticmethod
    def _refers(table: str, account: str, known: set[str]) -> str | None:
        """Why a checked row cannot be kept: an account twice, or a row of an account the
        accounts table does not have."""
        if table == "accounts":
            return f"account {account!r} appears twice" if account in known else None
        if account not in known:
            return f"account {account!r} is not in the accounts table"
        return None

    def _drop_indexes(self, c: Connection, files: dict[str, Path]) -> list[Any]:
        """On SQLite, drop the secondary indexes of each table this import fills in bulk
        (see the module's docstring); the caller creates them again before committing."""
        if self.engine.dialect.name != "sqlite":
            return []
        dropped = []
        for name, path in files.items():
            table = ROWS_OF[name]
            size = path.stat().st_size
            held = c.execute(select(func.max(table.c.id))).scalar() or 0
            if size >= REBUILD_BYTES and size // BYTES_PER_ROW >= held:
                for index in sorted(table.indexes, key=lambda i: str(i.name)):
                    index.drop(c)
                    dropped.append(index)
        return dropped

    def _insert_sql(self, table: Table, columns: tuple[str, ...]) -> str:
        """A plain INSERT for the driver's executemany: at tens of millions of rows the
        SQL expression layer's per-row parameter handling is a third of the import."""
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        return (f"INSERT INTO {table.name} ({', '.join(columns)}) "
                f"VALUES ({', '.join([mark] * len(columns))})")

    def _flush(self, c: Connection, table: str, batch: list[tuple], emails: list[tuple]
               ) -> None:
        if batch:
            if table == "accounts":
                sql = self._insert_sql(t.platform_accounts, ACCOUNT_COLUMNS)
            else:
                extra = ("pair",) if table == "access_logs" else ()
                sql = self._insert_sql(TABLE_OF[table], ("case_id", "platform",
                                                         *rec.TABLES[table], *extra))
            self._insert(c, sql, batch)
        if emails:
            self._insert(c, self._insert_sql(t.platform_emails, EMAIL_COLUMNS), emails)

    def _insert(self, c: Connection, sql: str, rows: list[tuple]) -> None:
        """The rows, then `rows` emptied: COPY on PostgreSQL (one stream per batch instead
        of a statement per row), executemany elsewhere."""
        if self.engine.dialect.name == "postgresql":
            head = sql.split(" VALUES ", 1)[0].replace("INSERT INTO ", "COPY ", 1)
            pg: Any = c.connection.driver_connection  # psycopg: COPY is not DB-API
            with pg.cursor() as cur, cur.copy(f"{head} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            c.exec_driver_sql(sql, rows)
        rows.clear()

    @staticmethod
    def _refuse_repeat(c: Connection, case_id: int, platform: str, iid: int,
                       files: list[dict]) -> None:
        """Importing the same files again would count every payment twice (a file that gave
        no rows, such as a header alone, is not a repeat)."""
        mine = {f["sha256"] for f in files if f["imported"] or f["rejected"]}
        for other, details in c.execute(select(t.platform_imports.c.id,
                                               t.platform_imports.c.details).where(
                t.platform_imports.c.case_id == case_id,
                t.platform_imports.c.platform == platform, t.platform_imports.c.id != iid)):
            seen = {f["sha256"] for f in json.loads(details).get("files", [])
                    if f["imported"] or f["rejected"]}
            again = mine & seen
            if again:
                raise PlatformError(f"import {other} of platform {platform!r} already holds "
                                    f"{len(again)} of these files (same SHA-256); nothing "
                                    "imported")

    def imports(self, case_id: int) -> list[dict]:
        with self.engine.connect() as c:
            return [{"import": i, "platform": p, "imported_at": at} | json.loads(d)
                    for i, p, at, d in c.execute(
                        select(t.platform_imports.c.id, t.platform_imports.c.platform,
                               t.platform_imports.c.imported_at, t.platform_imports.c.details)
                        .where(t.platform_imports.c.case_id == case_id)
                        .order_by(t.platform_imports.c.id))]

    # -- reads ---------------------------------------------------------------------------
    def accounts(self, case_id: int, account: str | None = None) -> list[dict]:
        """Accounts with e-mails, payment summary and transfers (not yet linked to items)."""
        a = t.platform_accounts.c
        where = [a.case_id == case_id] + ([a.account == account] if account else [])
        out: dict[tuple[str, str], dict] = {}
        with self.engine.connect() as c:
            for r in c.execute(select(t.platform_accounts).where(*where)
                               .order_by(a.platform, a.account)).mappings():
                out[(r["platform"], r["account"])] = {
                    "platform": r["platform"], "account": r["account"],
                    "names": json.loads(r["names"]), "emails": [], "created": r["created"],
                    "country": r["country"], "payments": 0, "payment_ids": [],
                    "transfers": []}
            e = t.platform_emails.c
            for plat, acct, given in c.execute(
                    select(e.platform, e.account, e.given).where(
                        e.case_id == case_id, *([e.account == account] if account else []))
                    .order_by(e.id)):
                if (plat, acct) in out:
                    out[(plat, acct)]["emails"].append(given)
            p = t.platform_payments.c
            for plat, acct, n in c.execute(
                    select(p.platform, p.account, func.count()).where(
                        p.case_id == case_id, *([p.account == account] if account else []))
                    .group_by(p.platform, p.account)):
                if (plat, acct) in out:
                    out[(plat, acct)]["payments"] = n
            for plat, acct, pid in c.execute(
                    select(p.platform, p.account, p.payment_id).distinct().where(
                        p.case_id == case_id, p.payment_id.is_not(None),
                        *([p.account == account] if account else []))
                    .order_by(p.platform, p.account, p.payment_id)):
                if (plat, acct) in out:
                    out[(plat, acct)]["payment_ids"].append(pid)
            x = t.platform_transfers.c
            for r in c.execute(select(t.platform_transfers).where(
                    x.case_id == case_id, *([x.account == account] if account else []))
                    .order_by(x.platform, x.account, x.time, x.id)).mappings():
                if (r["platform"], r["account"]) in out:
                    out[(r["platform"], r["account"])]["transfers"].append(
                        {k: r[k] for k in ("id", "time", "direction", "file_name", "md5",
                                           "sha256", "pdq")})
        return list(out.values())

    def shared(self, case_id: int, kind: str, most: int | None = None
               ) -> Iterator[tuple[str, str, str]]:
        """(value, platform, account) for every value two or more accounts (and at most
        `most`) share: `email` (normalised), `payment` (payment identifier) or `ip_ua`
        (the pair's key), ordered by value, platform, account.

        The distinct (value, platform, account) rows come from one ordered pass over an
        index that ends in (platform, account) (schema 0014), and a window counts each
        value's accounts. A `GROUP BY ... HAVING count(DISTINCT ...)` subquery instead
        fetched each of the 20M access rows from the table to read its platform (574 s at
        the issue's scale)."""
        col, table, acct, plat = {
            "email": (t.platform_emails.c.email, t.platform_emails, t.platform_emails.c.account,
                      t.platform_emails.c.platform),
            "payment": (t.platform_payments.c.payment_id, t.platform_payments,
                        t.platform_payments.c.account, t.platform_payments.c.platform),
            "ip_ua": (t.platform_access.c.pair, t.platform_access,
                      t.platform_access.c.account, t.platform_access.c.platform)}[kind]
        rows = (select(col.label("value"), plat.label("platform"), acct.label("account"))
                .distinct().where(table.c.case_id == case_id, col.is_not(None)).subquery())
        counted = select(rows, func.count().over(partition_by=rows.c.value).label("n")
                         ).subquery()
        q = (select(counted.c.value, counted.c.platform, counted.c.account)
             .where(counted.c.n > 1, *([counted.c.n <= most] if most is not None else []))
             .order_by(counted.c.value, counted.c.platform, counted.c.account))
        with self.engine.connect() as c:
            yield from (tuple(r) for r in c.execute(q).all())

    def pair_values(self, case_id: int, keys: set[str]) -> dict[str, tuple[str, str | None]]:
        """key -> (ip, user agent) of the given IP+user-agent keys."""
        out: dict[str, tuple[str, str | None]] = {}
        a = t.platform_access.c
        with self.engine.connect() as c:
            keys_l = sorted(keys)
            for i in range(0, len(keys_l), 500):
                for k, ip, ua in c.execute(select(a.pair, a.ip, a.user_agent).where(
                        a.case_id == case_id, a.pair.in_(keys_l[i:i + 500]))
                        .group_by(a.pair, a.ip, a.user_agent)):
                    out.setdefault(k, (ip, ua))
        return out

    def device_files(self, case_id: int) -> list[dict]:
        """Per transfer whose file (SHA-256 or MD5) is on a source linked to a seized device
        of the case: the account, the device and its suspect, direction and hash."""
        x, i, s = t.platform_transfers.c, t.items.c, t.sources.c
        same = or_(and_(x.sha256.is_not(None), i.sha256 == x.sha256),
                   and_(x.sha256.is_(None), x.md5.is_not(None), i.md5 == x.md5))
        q = (select(x.platform, x.account, x.direction, x.sha256, x.md5,
                    t.devices.c.key.label("device"), t.devices.c.id.label("device_id"))
             .select_from(t.platform_transfers.join(t.items, same)
                          .join(t.sources, i.source_id == s.id)
                          .join(t.device_sources, t.device_sources.c.source_id == s.id)
                          .join(t.devices, t.devices.c.id == t.device_sources.c.device_id))
             .where(x.case_id == case_id, s.case_id == case_id).distinct()
             .order_by(t.devices.c.key, x.platform, x.account))
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(q).mappings()]

    def transfer_spread(self, case_id: int, hashes: set[str]) -> dict[str, int]:
        """hash -> how many accounts transferred it (SHA-256, or MD5 where no SHA-256)."""
        x = t.platform_transfers.c
        key = func.coalesce(x.sha256, x.md5)
        out: dict[str, int] = {}
        hs = sorted(hashes)
        with self.engine.connect() as c:
            for k in range(0, len(hs), 500):
                for h, n in c.execute(select(key, func.count((x.platform + ":" + x.account)
                                                             .distinct()))
                                      .where(x.case_id == case_id, key.in_(hs[k:k + 500]))
                                      .group_by(key)):
                    out[h] = n
        return out

    def access_ips(self, case_id: int, accounts: set[tuple[str, str]]
                   ) -> dict[tuple[str, str], dict[str, int]]:
        """Per (platform, account) of `accounts`: each IP address its access-log rows came
        from, with how many rows. One streamed pass over the case's access log (only asked
        for with an offline GeoIP database, for the accounts of proposed candidates)."""
        out: dict[tuple[str, str], dict[str, int]] = {}
        if not accounts:
            return out
        a = t.platform_access.c
        with self.engine.connect() as c:
            rows = c.execution_options(yield_per=50_000).execute(
                select(a.platform, a.account, a.ip).where(a.case_id == case_id))
            for plat, acct, ip in rows:
                if (plat, acct) in accounts:
                    ips = out.setdefault((plat, acct), {})
                    ips[ip] = ips.get(ip, 0) + 1
        return out

    def countries(self, case_id: int, accounts: list[tuple[str, str]]) -> dict[tuple[str, str],
                                                                                dict[str, Any]]:
        """Per account: declared country and payments counted by their country."""
        out: dict[tuple[str, str], dict[str, Any]] = {a: {"declared": None, "payments": {}}
                                                      for a in accounts}
        a, p = t.platform_accounts.c, t.platform_payments.c
        with self.engine.connect() as c:
            for plat, chunk in _chunks(accounts):  # (case, platform, account): index seeks
                for acct, ctry in c.execute(select(a.account, a.country)
                                            .where(a.case_id == case_id, a.platform == plat,
                                                   a.account.in_(chunk))):
                    if (plat, acct) in out:
                        out[(plat, acct)]["declared"] = ctry
                for acct, ctry, n in c.execute(
                        select(p.account, p.country, func.count())
                        .where(p.case_id == case_id, p.platform == plat, p.account.in_(chunk),
                               p.country.is_not(None))
                        .group_by(p.account, p.country)):
                    if (plat, acct) in out:
                        out[(plat, acct)]["payments"][ctry] = n
        return out

    def activity(self, case_id: int, accounts: list[tuple[str, str]]
                 ) -> dict[tuple[str, str], dict[str, Any]]:
        """Per (platform, account): uploads, downloads, payments (count, the amounts summed
        as the records give them, first and last time): what triage weighs."""
        out: dict[tuple[str, str], dict[str, Any]] = {
            a: {"uploads": 0, "downloads": 0, "payments": 0, "payments_total": 0.0,
                "first": None, "last": None} for a in accounts}
        tr, p = t.platform_transfers.c, t.platform_payments.c
        wanted = sorted({acct for _, acct in accounts})
        with self.engine.connect() as c:
            for k in range(0, len(wanted), 500):
                chunk = wanted[k:k + 500]
                for plat, acct, direction, n in c.execute(
                        select(tr.platform, tr.account, tr.direction, func.count())
                        .where(tr.case_id == case_id, tr.account.in_(chunk))
                        .group_by(tr.platform, tr.account, tr.direction)):
                    if (plat, acct) in out:
                        out[(plat, acct)][f"{direction}s"] = n
                for plat, acct, amount, when in c.execute(
                        select(p.platform, p.account, p.amount, p.time)
                        .where(p.case_id == case_id, p.account.in_(chunk))):
                    got = out.get((plat, acct))
                    if got is None:
                        continue
                    got["payments"] += 1
                    with contextlib.suppress(ValueError):  # checked on import
                        got["payments_total"] += float(amount) if amount else 0.0
                    got["first"] = min(x for x in (got["first"], when) if x)
                    got["last"] = max(x for x in (got["last"], when) if x)
        return out

    def device_countries(self, case_id: int, device_ids: set[int]) -> dict[int, list[dict]]:
        """device -> the countries its seizure names: actions on it (their country and
        agency), else its suspect's country."""
        out: dict[int, list[dict]] = {d: [] for d in device_ids}
        ids = sorted(device_ids)
        with self.engine.connect() as c:
            for did, kind, ctry, agency, aid in c.execute(
                    select(t.action_devices.c.device_id, t.actions.c.kind, t.actions.c.country,
                           t.actions.c.agency, t.actions.c.id)
                    .join(t.actions, t.actions.c.id == t.action_devices.c.action_id)
                    .where(t.actions.c.case_id == case_id,
                           t.action_devices.c.device_id.in_(ids))
                    .order_by(t.actions.c.date, t.actions.c.id)):
                out[did].append({"country": ctry, "source": f"action {aid} ({kind})"
                                 + (f" by {agency}" if agency else "")})
            for did, key, ctry, skey in c.execute(
                    select(t.devices.c.id, t.devices.c.key, t.suspects.c.country,
                           t.suspects.c.key)
                    .join(t.suspects, t.suspects.c.id == t.devices.c.suspect_id)
                    .where(t.devices.c.id.in_(ids), t.suspects.c.country.is_not(None))):
                if not out[did]:
                    out[did].append({"country": ctry, "source": f"device {key}'s suspect "
                                     f"{skey}"})
        return out

    # -- accepting a candidate: merge and split suspects -----------------------------------
    def merge(self, case_id: int, into: str, others: list[str], accounts: list[str]) -> dict:
        """Suspect `into` (created if the case has none by that id) takes the identifiers,
        aliases, devices and actions of `others`, which are removed, and the platform
        `accounts` (`platform:ACCOUNT`, each one of the case's imported accounts) as
        `account` identifiers. One custody entry holds every suspect before and the result.
        Refused: an account another suspect (not being merged) already holds."""
        people = People(self.store)
        s, i = t.suspects.c, t.identifiers.c
        with self.engine.begin() as c:
            people._open_case(c, case_id)
            if into in others:
                raise PlatformError(f"suspect {into!r} cannot be merged into itself")
            found = people._suspect_id(c, case_id, into)
            created = found is None
            sid = found if found is not None else inserted_id(c.execute(
                insert(t.suspects).values(case_id=case_id, key=into, aliases="[]",
                                          created_at=now())))
            before: dict[str, dict | None] = {into: None if created else people._suspect(c, sid)}
            other_ids = {}
            for key in dict.fromkeys(others):
                other_ids[key] = people._need_suspect(c, case_id, key)
                before[key] = people._suspect(c, other_ids[key])
            for acct in dict.fromkeys(accounts):
                plat, _, name = acct.partition(":")
                if c.execute(select(t.platform_accounts.c.id).where(
                        t.platform_accounts.c.case_id == case_id,
                        t.platform_accounts.c.platform == plat,
                        t.platform_accounts.c.account == name)).first() is None:
                    raise PlatformError(f"no account {acct!r} in this case's platform records")
                holder = c.execute(select(s.key).join(t.identifiers, i.suspect_id == s.id)
                                   .where(s.case_id == case_id, i.kind == "account",
                                          i.value == acct)).scalars().all()
                stray = [h for h in holder if h != into and h not in other_ids]
                if stray:
                    raise PlatformError(f"account {acct!r} is held by suspect {stray[0]!r}; "
                                        "merge that suspect too, or split it off first")
                c.execute(self.store.insert_ignore(t.identifiers).values(
                    suspect_id=sid, kind="account", value=acct))
            aliases = list((before[into] or {}).get("aliases", []))
            target = before[into] or {}
            country, agency = target.get("country"), target.get("agency")
            for key, oid in other_ids.items():
                for kind, value in c.execute(select(i.kind, i.value)
                                             .where(i.suspect_id == oid)).all():
                    c.execute(self.store.insert_ignore(t.identifiers).values(
                        suspect_id=sid, kind=kind, value=value))
                c.execute(t.identifiers.delete().where(i.suspect_id == oid))
                was = before[key] or {}
                aliases += [a for a in [key, *was.get("aliases", [])] if a not in aliases]
                country = country or was.get("country")
                agency = agency or was.get("agency")
                c.execute(update(t.devices).where(t.devices.c.suspect_id == oid)
                          .values(suspect_id=sid))
                for (aid,) in c.execute(select(t.action_suspects.c.action_id)
                                        .where(t.action_suspects.c.suspect_id == oid)).all():
                    c.execute(self.store.insert_ignore(t.action_suspects).values(
                        action_id=aid, suspect_id=sid))
                c.execute(t.action_suspects.delete().where(
                    t.action_suspects.c.suspect_id == oid))
                c.execute(t.suspects.delete().where(s.id == oid))
            c.execute(update(t.suspects).where(s.id == sid).values(
                aliases=json.dumps(aliases), country=country, agency=agency))
            after = people._suspect(c, sid)
            conflicts = sorted({b["country"] for b in before.values()
                                if b and b["country"]} - {country})
            details = {"into": into, "created": created, "merged": list(other_ids),
                       "accounts": list(dict.fromkeys(accounts)), "before": before,
                       "after": after, "countries_not_kept": conflicts}
            self.store.log_change(c, case_chain(case_id), "suspect.merged", f"suspect:{into}",
                                  details, case_id)
        return after | {"merged": list(other_ids), "created": created,
                        "countries_not_kept": conflicts}

    def split(self, case_id: int, key: str, new: str, identifiers: list[tuple[str, str]],
              devices: list[str]) -> dict:
        """A new suspect `new` takes `identifiers` and `devices` from suspect `key` (an
        accepted candidate that turned out to be two people); its country and agency are
        copied. One custody entry holds both suspects before and after."""
        people = People(self.store)
        i = t.identifiers.c
        with self.engine.begin() as c:
            people._open_case(c, case_id)
            sid = people._need_suspect(c, case_id, key)
            if people._suspect_id(c, case_id, new) is not None:
                raise PlatformError(f"suspect {new!r} exists in this case")
            if not identifiers and not devices:
                raise PlatformError("name what the new suspect takes: identifiers or devices")
            before = people._suspect(c, sid)
            nid = inserted_id(c.execute(insert(t.suspects).values(
                case_id=case_id, key=new, aliases="[]", country=before["country"],
                agency=before["agency"], created_at=now())))
            for kind, value in identifiers:
                if not c.execute(update(t.identifiers).where(
                        i.suspect_id == sid, i.kind == kind, i.value == value)
                        .values(suspect_id=nid)).rowcount:
                    raise PlatformError(f"suspect {key!r} has no {kind} {value!r}")
            for dev in devices:
                if dev not in before["devices"]:
                    raise PlatformError(f"suspect {key!r} has no device {dev!r}")
                c.execute(update(t.devices).where(t.devices.c.case_id == case_id,
                                                  t.devices.c.key == dev)
                          .values(suspect_id=nid))
            after = {key: people._suspect(c, sid), new: people._suspect(c, nid)}
            self.store.log_change(c, case_chain(case_id), "suspect.split", f"suspect:{key}",
                                  {"suspect": key, "new": new, "before": before, "after": after},
                                  case_id)
        return after[new] | {"split_from": key}


def _chunks(accounts: list[tuple[str, str]], size: int = 500
            ) -> Iterator[tuple[str, list[str]]]:
    """(platform, up to `size` of its accounts), sorted: a query per chunk then seeks the
    (case, platform, account) indexes instead of scanning the case's rows for each chunk."""
    by: dict[str, set[str]] = {}
    for plat, acct in accounts:
        by.setdefault(plat, set()).add(acct)
    for plat in sorted(by):
        names = sorted(by[plat])
        for k in range(0, len(names), size):
            yield plat, names[k:k + size]
