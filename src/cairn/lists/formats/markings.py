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

This is Cairn's one TLP vocabulary (import, export, TAXII server and client). Fail closed:
- a TLP name that is not one of LEVELS (or an alias) counts as RED (`read`, `strictest`);
- a marking reference (`object_marking_refs`, `granular_markings[].marking_ref`) counts as
  (`resolve`): the OASIS TLP 1.0/2.0 marking-definition's level for their ids; else the level
  of a TLP marking-definition sent with it (same bundle, POST envelope or pulled pages:
  `definition_type: "tlp"` or the TLP 2.0 extension), RED if that level is unreadable;
  nothing for a `statement` marking-definition sent with it (not a TLP); and RED for any
  other reference: one never defined, or defined as something Cairn does not read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
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


def read(name: object) -> str:
    """A TLP level from a name, RED for one that is not a TLP level (fail closed)."""
    return level(name) or "red"


def strictest(levels: Iterable[object]) -> str | None:
    """The strictest of some TLP levels; None and "" are no marking, any other name that is
    not a TLP level counts as RED. None if there is no marking at all."""
    best: str | None = None
    for name in levels:
        if name is None or name == "":
            continue
        lv = read(name)
        if best is None or RANK[lv] > RANK[best]:
            best = lv
    return best


NOT_TLP = ""  # in a `known` mapping of `resolve`: a marking-definition that is not a TLP


def resolve(refs: Iterable[object], *known: Mapping[str, str]) -> str | None:
    """The strictest TLP of some marking references, looked up in `known` in order (first
    hit wins: pass the OASIS ids first so a partner cannot redefine them). A ref that maps
    to NOT_TLP is ignored; one found nowhere, or not a string, is RED. None: no TLP."""
    found: list[str] = []
    for ref in refs:
        lv = next((m[ref] for m in known if isinstance(ref, str) and ref in m), None)
        if lv is None:
            return "red"
        if lv != NOT_TLP:
            found.append(lv)
    return strictest(found)


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
