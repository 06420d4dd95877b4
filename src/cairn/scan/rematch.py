"""Re-matching: a case's stored signals against the lists as they are now, without reading
the evidence again. A list imported after a scan is applied to the case; after an import or
an append only the new entries are looked up (a small index built of them alone)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cairn.lists.matcher import Matcher
from cairn.scan.listindex import match_records, open_matcher
from cairn.store.store import Store

BATCH = 20_000  # items read and matched at a time


@dataclass
class Rematch:
    case: str
    items: int = 0
    new_matches: int = 0
    entries: int | None = None  # entries looked up: all active (None) or the new ones
    by_list: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"case": self.case, "items": self.items, "new_matches": self.new_matches,
                "entries": "all" if self.entries is None else self.entries,
                "by_list": self.by_list}


def rematch(store: Store, case: str, after_entry: int | None = None, why: str = "rematch",
            progress: Callable[[int], None] | None = None) -> Rematch:
    """Match every item of `case` against the active list entries (all of them, or only those
    with id > `after_entry`: what an import just added). New matches are recorded (with a
    custody entry); those on record stay as they are, whatever their status."""
    case_id = store.case_id(case)
    if case_id is None:
        raise ValueError(f"no case named {case!r}")
    out = Rematch(case)
    if after_entry is None:
        matcher = open_matcher(store)
    else:
        lists = store.lists()
        entries = list(store.iter_entries(after_id=after_entry))
        out.entries = len(entries)
        if not entries:
            return out
        matcher = Matcher.build(entries, {x["id"]: x["pdq_threshold"] for x in lists},
                                {x["id"]: x["vpdq_percent"] for x in lists})
    last = 0
    while batch := store.match_inputs(case_id, after_item=last, limit=BATCH):
        last = batch[-1]["item_id"]
        matcher, found = match_records(store, matcher, batch)
        pairs = [(rec["item_id"], [m.to_dict() for m in ms])
                 for rec, ms in zip(batch, found, strict=True) if ms]
        new = store.add_matches(case_id, pairs, why) if pairs else {}
        out.items += len(batch)
        for name, n in new.items():
            out.by_list[name] = out.by_list.get(name, 0) + n
            out.new_matches += n
        if progress:
            progress(len(batch))
    return out
