"""Exact hashes on demand: what leaves the machine (exports, sharing) must be bit-identical
to the reference, so items first hashed `fast` are hashed again, exactly, from the evidence.

Only the few that are shared need it (by default: the matched items of a case).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cairn.media.limits import Limits
from cairn.media.walk import display_name, raw_name, walk
from cairn.scan.isolation import records_of
from cairn.scan.worker import HashOptions
from cairn.store import Store


@dataclass
class RehashSummary:
    items_needing_exact: int = 0
    files_read: int = 0
    exact_signals_added: int = 0
    missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"items_needing_exact": self.items_needing_exact, "files_read": self.files_read,
                "exact_signals_added": self.exact_signals_added, "missing": self.missing}


def ensure_exact(store: Store, case: str, only_matched: bool = True,
                 limits: Limits | None = None) -> RehashSummary:
    """Recompute exact PDQ for the case's items that only have a fast one."""
    case_id = store.cases.id(case)
    if case_id is None:
        raise LookupError(f"no case named {case!r}")
    summary = RehashSummary()
    need = store.records.without_exact_pdq(case_id, only_matched)
    summary.items_needing_exact = sum(len(paths) for paths in need.values())
    opts = HashOptions(mode="exact")
    limits = limits or Limits()
    for location, paths in sorted(need.items()):
        # the file on disk: the path up to its first unescaped `!/` (a real folder named
        # `x.zip!` is shown `x.zip\!/`), compared as bytes
        tops = {raw_name(p).split(b"\0", 1)[0] for p in paths}
        found = {e.raw: e for e in walk(location) if e.raw in tops}
        for top in sorted(tops):
            entry = found.get(top)
            if entry is None:
                summary.missing.append(f"{location}: {display_name(top)}")
                continue
            summary.files_read += 1
            # read in an isolated worker, under the scan's caps: evidence can be hostile
            records = [r for r in records_of(entry, limits, opts) if r["path"] in paths]
            summary.exact_signals_added += store.records.add_pdq(records)
    return summary
