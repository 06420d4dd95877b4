"""What every list format shares: the entry a reader yields, a rejected entry, the one error
that stops an import, and `normalise` (a value's canonical form, by its signal type's entry in
the registry, signals/types.py). The format modules import this, never each other's readers, so
`readers` can dispatch to them without an import cycle."""

from __future__ import annotations

from dataclasses import dataclass, field

from cairn.signals import types

SIGNAL_TYPES = types.NAMES
TE_NAMES = types.ALIASES  # python-threatexchange signal names (and common spellings) -> ours


class ListFormatError(Exception):
    """The file as a whole cannot be read as a list (not: one bad line)."""


@dataclass(slots=True)
class Entry:
    signal_type: str
    value: str
    line: int
    category: str | None = None
    labels: list[str] = field(default_factory=list)
    collab: str | None = None
    attrs: dict | None = None  # fields of the source format, carried through (VICS, STIX)
    origin: dict | None = None  # partner, collection, fetched_at, version

    def to_dict(self) -> dict:
        return {"signal_type": self.signal_type, "value": self.value, "line": self.line,
                "category": self.category, "labels": self.labels, "collab": self.collab,
                "attrs": self.attrs, "origin": self.origin}


@dataclass(slots=True)
class Rejected:
    line: int
    text: str
    reason: str


def normalise(signal_type: str, value: object) -> str:
    """The canonical form of a hash; ValueError naming what is wrong (never another error)."""
    try:
        kind = types.get(signal_type)
    except types.UnknownSignalType as e:
        raise ValueError(str(e)) from None
    return kind.normalise(value)
