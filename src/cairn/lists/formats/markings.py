"""TLP markings per entry: the order, the strictest of several, and what an export may carry.

An entry keeps the strictest marking it arrived with (`attrs["tlp"]`), whatever its list's
marking; the list's marking is a floor, never a ceiling. Order (TLP 2.0, FIRST):
clear < green < amber < amber+strict < red; TLP 1.0's `white` is `clear`.

A format that carries markings per object (STIX `object_marking_refs`, MISP tags and
distribution) writes each entry under the stricter of the export's marking and its own. A
format that cannot (VICS, python-threatexchange CSV and local files, md5sum lines) carries
nothing but the export's marking, stated beside it: an entry stricter than that is left out
of the file and handed to the caller as `Withheld`, so the caller can say so. Leaving out
rather than refusing the whole export: the file is then exactly what its marking allows, and
the message says how to include the rest (`--tlp red`, or STIX / MISP). RED never widens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

LEVELS = ("clear", "green", "amber", "amber+strict", "red")  # least to most strict
RANK = {lv: i for i, lv in enumerate(LEVELS)}
_ALIASES = {"white": "clear", "amber-strict": "amber+strict", "amber strict": "amber+strict"}


def level(name: object) -> str | None:
    """A TLP level from a name as partners write it (`RED`, `tlp:white`, `TLP:AMBER+STRICT`);
    None if it is not one."""
    if not isinstance(name, str):
        return None
    s = name.strip().lower()
    s = s[4:].strip() if s.startswith("tlp:") else s
    s = _ALIASES.get(s, s)
    return s if s in RANK else None


def strictest(levels: Iterable[str | None]) -> str | None:
    """The strictest of some TLP levels (unknown names and None ignored); None if none."""
    best: str | None = None
    for lv in levels:
        lv = level(lv)
        if lv is not None and (best is None or RANK[lv] > RANK[best]):
            best = lv
    return best


def entry_level(entry: dict, floor: str | None = None) -> str | None:
    """The marking an exported entry must travel under: its own, or `floor` if stricter."""
    return strictest(((entry.get("attrs") or {}).get("tlp"), floor))


def stricter(a: str | None, b: str | None) -> bool:
    """Is `a` stricter than `b`? (None: unmarked, the least strict.)"""
    la, lb = level(a), level(b)
    return la is not None and (lb is None or RANK[la] > RANK[lb])


@dataclass(slots=True)
class Withheld:
    """An entry left out of an export whose format cannot carry its stricter marking."""
    signal_type: str
    value: str
    tlp: str
    export_tlp: str


def within(entries: Iterable[dict], tlp: str | None,
           withheld: list[Withheld] | Callable[[Withheld], object] | None = None
           ) -> Iterator[dict]:
    """The entries an export marked `tlp` may carry when the format holds no marking per
    entry; the others go to `withheld` (a list, or a callback). `tlp` None: no filtering
    (the caller states no marking, so it has promised none)."""
    if tlp is None:
        yield from entries
        return
    note = withheld.append if isinstance(withheld, list) else withheld
    for e in entries:
        own = (e.get("attrs") or {}).get("tlp")
        if stricter(own, tlp):
            if note is not None:
                note(Withheld(e["signal_type"], e["value"], level(own) or "red", tlp))
            continue
        yield e


def describe(withheld: list[Withheld]) -> str:
    """One line for the user: how many entries were left out, and how to include them."""
    if not withheld:
        return ""
    counts: dict[str, int] = {}
    for w in withheld:
        counts[w.tlp] = counts.get(w.tlp, 0) + 1
    by = ", ".join(f"{n} TLP:{lv.upper()}" for lv, n in sorted(counts.items(),
                                                                key=lambda x: RANK[x[0]]))
    return (f"left out {len(withheld)} entries marked stricter than the export's "
            f"TLP:{withheld[0].export_tlp.upper()} ({by}): this format cannot mark entries "
            "one by one; export with --tlp set to their marking, or as stix or misp, to "
            "include them")
