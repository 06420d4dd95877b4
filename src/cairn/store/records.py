"""The repository of what scans record (`store.records`): items with their signals, findings,
errors and matches, written in one transaction per batch; and the reads that report, trace and
re-match a case from them instead of the evidence.

An item is its location (raw path, ordinal); a location recorded again with other contents is
its next version, the earlier kept (DESIGN.md: item identity).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast, overload

from sqlalchemy import Connection, insert, select

from cairn.records import (
    ErrorRecord,
    MatchRecord,
    NewMatch,
    PdqSignal,
    ScanRecord,
    StoredItem,
    VpdqSignal,
)
from cairn.store import schema as t
from cairn.store.common import Repository
from cairn.store.identity import location_bytes, location_key, version_note


class Records(Repository):
    """Items as scans record them, and the case-wide reads over them."""

    def add(self, source_id: int, run_id: int, records: Sequence[ScanRecord],
            matches: Sequence[list[NewMatch]]) -> int:
        """Record items (with signals, errors, matches) in one transaction; returns how many new.

        An item is its location: (raw path, ordinal). A location recorded before with the
        same size, mtime and SHA-256 is skipped (what makes a resumed scan idempotent); one
        that differs is recorded as its next version with a note, the earlier kept; so is
        a file read whole after its worker had failed on it (the failure kept its hashes only).
        Members of an archive come before the archive itself, so a recorded archive implies
        its members are recorded: that is what lets an interrupted scan resume safely.
        """
        new = 0
        signals: list[dict] = []  # keyed by content, not by item: one statement per batch
        findings: list[dict] = []
        with self.engine.begin() as c:
            raws = [location_bytes(rec) for rec in records]
            latest = self._latest_versions(c, source_id, {location_key(r) for r in raws})
            for rec, raw, item_matches in zip(records, raws, matches, strict=True):
                key = (location_key(raw), rec.get("ordinal", 0))
                prev = latest.get(key)
                state = (rec.get("size"), rec.get("mtime"), rec.get("sha256"))
                failed = any(e["stage"] == "worker" for e in rec.get("errors") or ())
                if (prev and (prev["size"], prev["mtime"], prev["sha256"]) == state
                        and (failed or not prev["worker_failed"])):
                    continue  # already recorded by an earlier (interrupted) run
                version = prev["version"] + 1 if prev else 1
                res = c.execute(self.store.insert_ignore(t.items).values(
                    source_id=source_id, scan_run_id=run_id, path=rec["path"],
                    parent_path=rec.get("parent"), raw_path=raw, location_key=key[0],
                    ordinal=key[1],
                    version=version, note=version_note(prev, state),
                    atime_note=rec.get("atime_note"), kind=rec["kind"],
                    media_type=rec.get("media_type"), size=rec.get("size"),
                    mtime=rec.get("mtime"), md5=rec.get("md5"), sha1=rec.get("sha1"),
                    sha256=rec.get("sha256"), width=rec.get("width"), height=rec.get("height"),
                    origin=origin_text(rec.get("origin")),
                ).returning(t.items.c.id))
                inserted = res.first()  # None: a concurrent scan recorded this version first
                if inserted is None:  # (RETURNING: PostgreSQL's rowcount here is -1 either way)
                    continue
                latest[key] = {"version": version, "scan_run_id": run_id, "size": state[0],
                               "mtime": state[1], "sha256": state[2], "kind": rec["kind"],
                               "worker_failed": failed}
                new += 1
                item_id = inserted[0]
                signals += _pdq_rows(rec)
                if rec.get("findings") and rec.get("sha256"):
                    findings += [
                        {"sha256": rec["sha256"], "kind": f["kind"], "strength": f["strength"],
                         "source": _text(f["source"])[:200], "error": _text(f.get("error")),
                         "data": json.dumps(f, sort_keys=True, ensure_ascii=False)}
                        for f in rec["findings"]]
                vpdq = rec.get("vpdq")
                if vpdq and rec.get("sha256"):
                    signals.append({"sha256": rec["sha256"], "signal_type": "vpdq",
                                    "mode": vpdq["mode"], "value": vpdq["signal"],
                                    "quality": len(vpdq["frames"])})
                if rec.get("errors"):
                    c.execute(insert(t.errors), [
                        {"item_id": item_id, "stage": e["stage"], "message": _text(e["message"])}
                        for e in rec["errors"]])
                if item_matches:
                    c.execute(self.store.insert_ignore(t.matches), [
                        {"item_id": item_id, "entry_id": m["entry_id"], "list_id": m["list_id"],
                         "signal_type": m["signal"], "distance": m["distance"],
                         "transform": m["transform"], "timestamp": m.get("timestamp"),
                         "detail": json.dumps(m["detail"]) if m.get("detail") else None}
                        for m in item_matches])
            if signals:  # same transaction: the batch is recorded whole or not at all
                c.execute(self.store.insert_ignore(t.signals), signals)
            if findings:
                c.execute(self.store.insert_ignore(t.findings), findings)
        return new

    def _latest_versions(self, c: Connection, source_id: int, keys: set[bytes]
                         ) -> dict[tuple[bytes, int], dict]:
        """{(location_key, ordinal): the latest version's row} for locations recorded."""
        latest: dict[tuple[bytes, int], dict] = {}
        cols = (t.items.c.location_key, t.items.c.ordinal, t.items.c.version,
                t.items.c.scan_run_id, t.items.c.size, t.items.c.mtime, t.items.c.sha256,
                t.items.c.kind, worker_failed())
        todo = sorted(keys)
        for i in range(0, len(todo), 500):
            for r in c.execute(select(*cols).where(
                    t.items.c.source_id == source_id,
                    t.items.c.location_key.in_(todo[i:i + 500]))).mappings():
                key = (bytes(r["location_key"]), r["ordinal"])
                if key not in latest or r["version"] > latest[key]["version"]:
                    latest[key] = dict(r)
        return latest

    def _insert_pdq(self, c: Connection, rec: ScanRecord) -> int:
        """Record a record's PDQ signal once per content and mode; 1 if it was new."""
        p = rec.get("pdq")
        if not p or not rec.get("sha256"):
            return 0
        if p.get("dihedral"):
            c.execute(self.store.insert_ignore(t.signals), _pdq_rows(rec)[:1])
        new = c.execute(self.store.insert_ignore(t.signals).values(
            sha256=rec["sha256"], signal_type="pdq", mode=p["mode"], value=p["hash"],
            quality=p["quality"]).returning(t.signals.c.id)).first()
        return int(new is not None)  # (PostgreSQL's rowcount is -1 here, new or not)

    def _insert_vpdq(self, c: Connection, rec: ScanRecord) -> int:
        """Record a record's vPDQ signal once per content and mode; 1 if it was new."""
        v = rec.get("vpdq")
        if not v or not rec.get("sha256"):
            return 0
        new = c.execute(self.store.insert_ignore(t.signals).values(
            sha256=rec["sha256"], signal_type="vpdq", mode=v["mode"], value=v["signal"],
            quality=len(v["frames"])).returning(t.signals.c.id)).first()
        return int(new is not None)

    def add_pdq(self, records: Sequence[ScanRecord]) -> int:
        """Record PDQ and vPDQ signals of already-recorded content (beside those of another
        mode, which are kept); returns how many were new."""
        with self.engine.begin() as c:
            return sum(self._insert_pdq(c, rec) + self._insert_vpdq(c, rec) for rec in records)

    def case_items(self, case_id: int) -> list[StoredItem]:
        """Every item of a case with its PDQ, errors and matches, in a deterministic order."""
        with self.engine.connect() as c:
            rows = c.execute(
                select(t.items, t.sources.c.name.label("source"))
                .join(t.sources, t.items.c.source_id == t.sources.c.id)
                .where(t.sources.c.case_id == case_id)
                .order_by(t.sources.c.name, t.sources.c.id, t.items.c.path, t.items.c.ordinal,
                          t.items.c.version)
            ).mappings().all()
            pdqs: dict[str, PdqSignal] = {}
            vpdqs: dict[str, VpdqSignal] = {}
            # exact sorts before fast: an exact hash, where one exists, is the one reported
            for sha, stype, value, quality, mode in c.execute(
                select(t.signals.c.sha256, t.signals.c.signal_type, t.signals.c.value,
                       t.signals.c.quality, t.signals.c.mode)
                .select_from(t.signals.join(t.items, t.signals.c.sha256 == t.items.c.sha256)
                             .join(t.sources, t.items.c.source_id == t.sources.c.id))
                .where(t.sources.c.case_id == case_id)
                .order_by(t.signals.c.sha256, t.signals.c.signal_type, t.signals.c.mode)
                .distinct()
            ):
                if stype == "pdq":
                    pdqs.setdefault(sha, {"hash": value, "quality": quality, "mode": mode})
                elif stype == "vpdq":
                    vpdqs.setdefault(sha, {"signal": value, "frames": quality, "mode": mode})
            finds: dict[str, list[dict]] = {}
            for sha, data in c.execute(
                select(t.findings.c.sha256, t.findings.c.data)
                .where(t.findings.c.sha256.in_(
                    select(t.items.c.sha256).join(t.sources)
                    .where(t.sources.c.case_id == case_id)))
                .order_by(t.findings.c.sha256, t.findings.c.kind, t.findings.c.source)
            ):
                finds.setdefault(sha, []).append(json.loads(data))
            errs: dict[int, list[ErrorRecord]] = {}
            for item_id, stage, message in c.execute(
                select(t.errors.c.item_id, t.errors.c.stage, t.errors.c.message)
                .select_from(t.errors.join(t.items, t.errors.c.item_id == t.items.c.id)
                             .join(t.sources, t.items.c.source_id == t.sources.c.id))
                .where(t.sources.c.case_id == case_id)
                .order_by(t.errors.c.item_id, t.errors.c.id)
            ):
                errs.setdefault(item_id, []).append({"stage": stage, "message": message})
            ms: dict[int, list[MatchRecord]] = {}
            for m in c.execute(
                select(t.matches.c.item_id, t.matches.c.signal_type, t.matches.c.distance,
                       t.matches.c.transform, t.matches.c.timestamp, t.matches.c.detail,
                       t.lists.c.name.label("list"),
                       t.list_entries.c.value, t.list_entries.c.category,
                       t.list_entries.c.labels, t.list_entries.c.collab,
                       t.list_entries.c.line_no, t.list_entries.c.origin,
                       t.list_entries.c.status, t.list_entries.c.attrs,
                       t.lists.c.tlp.label("list_tlp"),
                       t.matches.c.status.label("match_status"), t.matches.c.status_at,
                       t.matches.c.status_by, t.matches.c.status_note)
                .select_from(
                    t.matches.join(t.items, t.matches.c.item_id == t.items.c.id)
                    .join(t.sources, t.items.c.source_id == t.sources.c.id)
                    .join(t.lists, t.matches.c.list_id == t.lists.c.id)
                    .join(t.list_entries, t.matches.c.entry_id == t.list_entries.c.id))
                .where(t.sources.c.case_id == case_id)
                .order_by(t.matches.c.item_id, t.lists.c.name, t.matches.c.signal_type,
                          t.matches.c.distance, t.list_entries.c.value)
            ).mappings():
                extra = json.loads(m["detail"]) if m["detail"] else {}
                if m["timestamp"] is not None:
                    extra["timestamp"] = m["timestamp"]
                ms.setdefault(m["item_id"], []).append(cast(MatchRecord, {
                    "list": m["list"], "signal": m["signal_type"], "distance": m["distance"],
                    "transform": m["transform"], **extra, "status": m["match_status"],
                    **({"status_at": m["status_at"], "status_by": m["status_by"],
                        "status_note": m["status_note"]}
                       if m["match_status"] != "active" else {}),
                    "entry": {"value": m["value"], "category": m["category"],
                              "labels": json.loads(m["labels"]), "collab": m["collab"],
                              "line": m["line_no"],
                              # where a shared entry came from, and if it was judged since
                              **({"origin": json.loads(m["origin"])} if m["origin"] else {}),
                              **({"status": m["status"]} if m["status"] != "active" else {}),
                              # its own marking and its list's: what may carry it onwards
                              "tlp": (json.loads(m["attrs"] or "{}") or {}).get("tlp"),
                              "list_tlp": m["list_tlp"]},
                }))
        out: list[StoredItem] = []
        for r in rows:
            d = cast(StoredItem, dict(r))
            d["pdq"] = pdqs.get(d["sha256"]) if d["sha256"] else None
            d["vpdq"] = vpdqs.get(d["sha256"]) if d["sha256"] else None
            d["findings"] = finds.get(d["sha256"], []) if d["sha256"] else []
            d["errors"] = errs.get(d["id"], [])
            d["matches"] = ms.get(d["id"], [])
            out.append(d)
        return out

    def case_signals(self, case_id: int) -> list[dict]:
        """Every item of a case with what tracing needs: identity, times, PDQ (exact
        preferred) with its 8 dihedral hashes, video frames, findings."""
        with self.engine.connect() as c:
            rows = [dict(r) for r in c.execute(
                select(t.items.c.id, t.items.c.path, t.items.c.parent_path, t.items.c.kind,
                       t.items.c.sha256, t.items.c.size, t.items.c.mtime, t.items.c.width,
                       t.items.c.height, t.sources.c.name.label("source"))
                .join(t.sources, t.items.c.source_id == t.sources.c.id)
                .where(t.sources.c.case_id == case_id)
                .order_by(t.sources.c.name, t.items.c.path, t.items.c.ordinal,
                          t.items.c.version)).mappings()]
            shas = select(t.items.c.sha256).join(t.sources).where(t.sources.c.case_id == case_id)
            sig: dict[tuple[str, str], tuple[str, int]] = {}
            for sha, stype, value, quality, _mode in c.execute(
                select(t.signals.c.sha256, t.signals.c.signal_type, t.signals.c.value,
                       t.signals.c.quality, t.signals.c.mode)
                .where(t.signals.c.sha256.in_(shas))
                .order_by(t.signals.c.sha256, t.signals.c.signal_type, t.signals.c.mode)):
                sig.setdefault((sha, stype), (value, quality))  # exact sorts before fast
            finds: dict[str, list[dict]] = {}
            for sha, data in c.execute(select(t.findings.c.sha256, t.findings.c.data)
                                       .where(t.findings.c.sha256.in_(shas))
                                       .order_by(t.findings.c.id)):
                finds.setdefault(sha, []).append(json.loads(data))
        for r in rows:
            sha = r["sha256"]
            pdq, pdq8, vpdq = (sig.get((sha, k)) for k in ("pdq", "pdq8", "vpdq"))
            r["pdq"] = pdq[0] if pdq else None
            r["quality"] = pdq[1] if pdq else None
            r["dihedral"] = pdq8[0].split(",") if pdq8 else ([pdq[0]] if pdq else [])
            r["vpdq"] = vpdq[0] if vpdq else None
            r["findings"] = finds.get(sha, []) if sha else []
        return rows

    def match_inputs(self, case_id: int, after_item: int = 0, limit: int = 20_000
                     ) -> list[dict]:
        """Up to `limit` items of a case (id > after_item, by id) as the matcher takes them:
        crypto hashes, PDQ with its dihedral hashes (exact preferred), vPDQ frames. What
        re-matching reads instead of the evidence. (A scan's PDQ variants of palette and
        bordered pictures are not stored: re-matching looks up the plain hash's 8 turns.)"""
        from cairn.signals.vpdq import parse_signal  # PyAV: only when re-matching

        with self.engine.connect() as c:
            rows = [dict(r) for r in c.execute(
                select(t.items.c.id.label("item_id"), t.items.c.md5, t.items.c.sha1,
                       t.items.c.sha256)
                .join(t.sources, t.items.c.source_id == t.sources.c.id)
                .where(t.sources.c.case_id == case_id, t.items.c.id > after_item)
                .order_by(t.items.c.id).limit(limit)).mappings()]
            shas = sorted({r["sha256"] for r in rows if r["sha256"]})
            sig: dict[tuple[str, str], tuple[str, int]] = {}
            for start in range(0, len(shas), 2000):
                for sha, stype, value, quality in c.execute(
                        select(t.signals.c.sha256, t.signals.c.signal_type, t.signals.c.value,
                               t.signals.c.quality)
                        .where(t.signals.c.sha256.in_(shas[start:start + 2000]))
                        .order_by(t.signals.c.sha256, t.signals.c.signal_type,
                                  t.signals.c.mode)):
                    sig.setdefault((sha, stype), (value, quality))  # exact before fast
        for r in rows:
            sha = r["sha256"]
            pdq, pdq8, vpdq = (sig.get((sha, k)) for k in ("pdq", "pdq8", "vpdq"))
            if pdq:
                r["pdq"] = {"hash": pdq[0], "quality": pdq[1],
                            "dihedral": pdq8[0].split(",") if pdq8 else [pdq[0]]}
            if vpdq:
                frames = parse_signal(vpdq[0])
                r["vpdq"] = {"frames": [(f.timestamp, f.hash, f.quality) for f in frames]}
        return rows

    def without_exact_pdq(self, case_id: int, only_matched: bool, signal_type: str = "pdq"
                          ) -> dict[str, set[str]]:
        """{source location: item paths} of items with a fast PDQ (or, with signal_type
        `vpdq`, a fast vPDQ) and no exact one."""
        exact = select(t.signals.c.sha256).where(t.signals.c.signal_type == signal_type,
                                                 t.signals.c.mode == "exact")
        q = (select(t.sources.c.location, t.items.c.path)
             .select_from(t.items.join(t.sources, t.items.c.source_id == t.sources.c.id)
                          .join(t.signals, t.signals.c.sha256 == t.items.c.sha256))
             .where(t.sources.c.case_id == case_id, t.signals.c.signal_type == signal_type,
                    t.signals.c.mode == "fast", t.items.c.sha256.not_in(exact)))
        if only_matched:
            q = q.where(t.items.c.id.in_(select(t.matches.c.item_id)))
        out: dict[str, set[str]] = {}
        with self.engine.connect() as c:
            for location, path in c.execute(q):
                out.setdefault(location, set()).add(path)
        return out


@overload
def _text(s: str) -> str: ...


@overload
def _text(s: str | None) -> str | None: ...


def _text(s: str | None) -> str | None:
    """Evidence-derived words (an exception's message, a finding's source) with any NUL
    written `\\x00`: PostgreSQL refuses NUL in text, and would refuse the whole batch."""
    return s.replace("\0", "\\x00") if s else s


def worker_failed() -> Any:
    """Whether an item carries a worker's failure (its record is a hash-only reread)."""
    return (select(t.errors.c.id).where(t.errors.c.item_id == t.items.c.id,
                                        t.errors.c.stage == "worker")
            .exists().label("worker_failed"))


def origin_text(origin: str | dict | None) -> str | None:
    """items.origin as stored: a disk image's path-like origin as it is; a container's
    description of a member (a phone extraction's path, app, deleted flag, reported hashes)
    as canonical JSON, read back by `origin_value`."""
    if origin is None or isinstance(origin, str):
        return origin
    return json.dumps(origin, sort_keys=True, separators=(",", ":"), default=str)


def origin_value(text: str | None) -> str | dict | None:
    """items.origin as written by `origin_text`."""
    if text and text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            return text
        return value if isinstance(value, dict) else text
    return text


def _pdq_rows(rec: ScanRecord) -> list[dict]:
    """A record's rows of `signals` for its PDQ: the 8 rotations/flips (tracing links turned
    copies; first), then the hash itself."""
    p = rec.get("pdq")
    if not p or not rec.get("sha256"):
        return []
    row = {"sha256": rec["sha256"], "mode": p["mode"], "quality": p["quality"]}
    rows = [row | {"signal_type": "pdq8", "value": ",".join(p["dihedral"])}] \
        if p.get("dihedral") else []
    return [*rows, row | {"signal_type": "pdq", "value": p["hash"]}]
