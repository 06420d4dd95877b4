"""Exact hashes on demand: what leaves the machine (exports, sharing) must be bit-identical
to the reference, so items first hashed `fast` are hashed again, exactly, from the evidence:
PDQ of pictures and vPDQ of videos (media/video's exact decode, under the limits). The fast
signal is kept beside the exact one (the store's history); readers prefer the exact one.

Only the few that are shared need it (by default: the matched items of a case).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from cairn.media.limits import Limits
from cairn.media.walk import display_name, raw_name, walk
from cairn.records import ScanRecord
from cairn.scan.isolation import records_of
from cairn.scan.worker import HashOptions
from cairn.signals.vpdq import DEFAULT_INTERVAL
from cairn.store import Store


@dataclass
class RehashSummary:
    items_needing_exact: int = 0
    files_read: int = 0
    exact_signals_added: int = 0
    missing: list[str] = field(default_factory=list)
    # items read again whose exact signal could not be made (whole), with the reason
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"items_needing_exact": self.items_needing_exact, "files_read": self.files_read,
                "exact_signals_added": self.exact_signals_added, "missing": self.missing,
                "failed": self.failed}


def ensure_exact(store: Store, case: str, only_matched: bool = True,
                 limits: Limits | None = None,
                 video_interval: float = DEFAULT_INTERVAL) -> RehashSummary:
    """Recompute exact PDQ and exact vPDQ (one frame per `video_interval` seconds: the scan's
    own) for the case's items that only have a fast one."""
    case_id = store.cases.id(case)
    if case_id is None:
        raise LookupError(f"no case named {case!r}")
    summary = RehashSummary()
    # {location: {path: the signal types it needs}}
    need: dict[str, dict[str, set[str]]] = {}
    for stype in ("pdq", "vpdq"):
        for location, fast in store.records.without_exact_pdq(case_id, only_matched,
                                                              stype).items():
            for p in fast:
                need.setdefault(location, {}).setdefault(p, set()).add(stype)
    summary.items_needing_exact = sum(len(paths) for paths in need.values())
    opts = HashOptions(mode="exact", video_interval=video_interval)
    limits = limits or Limits()
    for location, paths in sorted(need.items()):
        # the file on disk: the path up to its first unescaped `!/` (a real folder named
        # `x.zip!` is shown `x.zip\!/`), compared as bytes
        tops = {raw_name(p).split(b"\0", 1)[0] for p in paths}
        found = {e.raw: e for e in walk(location) if e.raw in tops}
        done: set[str] = set()
        for top in sorted(tops):
            entry = found.get(top)
            if entry is None:
                summary.missing.append(f"{location}: {display_name(top)}")
                done |= {p for p in paths if raw_name(p).split(b"\0", 1)[0] == top}
                continue
            summary.files_read += 1
            # read in an isolated worker, under the scan's caps: evidence can be hostile
            records = [r for r in records_of(entry, limits, opts) if r["path"] in paths]
            for r in records:
                done.add(r["path"])
                summary.failed += _failures(location, r, paths[r["path"]])
            # a video cut short (a limit, a decode error) keeps its fast vPDQ, flagged, rather
            # than an exact one of fewer frames; a rehash under wider limits can redo it
            summary.exact_signals_added += store.records.add_pdq(
                [cast(ScanRecord, {k: v for k, v in r.items() if k != "vpdq"}) if _cut(r) else r
                 for r in records])
        summary.failed += [f"{location}: {p}: not read again (the worker gave no record)"
                           for p in sorted(set(paths) - done)]
    return summary


def _cut(rec: ScanRecord) -> bool:
    """Whether reading a record stopped short (a limit, a decode error, a worker's death)."""
    return any(e["stage"] in ("decode", "worker") for e in rec.get("errors") or ())


def _failures(location: str, rec: ScanRecord, wanted: set[str]) -> list[str]:
    """Why an item read again gets no exact signal of a type it needed."""
    why = "; ".join(e["message"] for e in rec.get("errors") or ()
                    if e["stage"] in ("decode", "worker")) or "no signal computed"
    signals: dict[str, Any] = dict(rec)
    return [f"{location}: {rec['path']}: exact {stype} not recorded: {why}"
            for stype in sorted(wanted)
            if not signals.get(stype) or signals[stype].get("mode") != "exact"
            or (stype == "vpdq" and _cut(rec))]
