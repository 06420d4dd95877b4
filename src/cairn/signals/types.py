"""The signal types Cairn reads from lists, computes, stores and matches: one registry.

In the spirit of python-threatexchange's `SignalType`: each type knows its name (the one HMA and
python-threatexchange use where they have one), the other names lists write it under, how to
check and normalise a value, how far apart two values are, the distance at which they match by
default, and what kind of index serves it. Callers ask the registry (`get`, `by_index`) instead
of testing `"pdq"` by hand; a new type is one entry here and one row in the conformance test
(tests/test_signal_types.py), which every registered type must pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from cairn.signals import crypto, pdq

IndexKind = Literal["exact", "hamming", "video", "none"]
_HEX = re.compile(r"[0-9a-fA-F]+")
MAX_VPDQ = 1 << 20  # characters in one vPDQ signal: an hour at one frame a second is 300 KB


class UnknownSignalType(KeyError):
    """A name the registry does not know (the message is HMA's: `No such SignalType 'x'`)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "No such SignalType"


@dataclass(frozen=True, slots=True)
class SignalType:
    name: str
    index: IndexKind  # exact: digest lookup; hamming: the PDQ index; video: vPDQ frames
    hex_digits: int | None  # fixed width of a hex value (None: not a fixed-width hex string)
    default_threshold: int | None  # match at distance <= this (None: equality, or not matched)
    aliases: tuple[str, ...]  # other names lists use for it (python-threatexchange, HMA)
    check: Callable[[str], str]  # the canonical form of a value; ValueError naming the fault
    compare: Callable[[str, str], int] | None = None  # distance of two canonical values

    def normalise(self, value: object) -> str:
        """The canonical form of a value; ValueError naming what is wrong (never another
        error, whatever the value: lists are untrusted)."""
        if not isinstance(value, str):
            raise ValueError(f"{self.name} hash must be a string, not {type(value).__name__}")
        if self.hex_digits is not None and not _HEX.fullmatch(value.strip()):
            # int(x, 16) and bytes.fromhex also take '0x', '_', signs, spaces and non-ASCII digits
            raise ValueError(f"{self.name} hash is not hexadecimal: {value[:80]!r}")
        return self.check(value)

    def distance(self, a: str, b: str) -> int:
        """How far apart two values are (0: the same). Types without a distance (vPDQ is
        compared frame by frame, PhotoDNA never) raise ValueError."""
        if self.compare is None:
            raise ValueError(f"{self.name} values have no single distance")
        return self.compare(self.normalise(a), self.normalise(b))

    def matches(self, a: str, b: str, threshold: int | None = None) -> bool:
        limit = self.default_threshold if threshold is None else threshold
        return self.distance(a, b) <= (limit or 0)


def _digest(kind: str) -> Callable[[str], str]:
    return lambda value: crypto.normalise_hex(value, kind)


def _equal(a: str, b: str) -> int:
    return 0 if a == b else 1


def _pdq(value: str) -> str:
    hx = pdq.normalise_hex(value)
    ones = int(hx, 16).bit_count()
    if not 32 <= ones <= 224:
        # PDQ sets bits against the median coefficient: about half are ones. A hash this
        # lopsided is a placeholder or corruption, and would match flat pictures en masse.
        raise ValueError(f"degenerate PDQ hash ({ones} of 256 bits set); not a picture's PDQ")
    return hx


def _vpdq(value: str) -> str:
    from cairn.signals import vpdq  # PyAV: loaded only where a vPDQ value is met

    if len(value) > MAX_VPDQ:
        raise ValueError(f"vPDQ signal of {len(value):,} characters (limit {MAX_VPDQ:,})")
    try:
        return vpdq.to_signal(vpdq.parse_signal(value))
    except RecursionError:  # json.loads of '[[[[…' nested thousands deep
        raise ValueError("vPDQ signal nested too deep") from None


def _photodna(value: str) -> str:
    # PhotoDNA hashes cannot be computed here (the algorithm is licensed): they are carried
    # through imports and exports untouched, counted, and never matched.
    v = value.strip()
    if not v or len(v) > 2048 or any(c.isspace() for c in v):
        raise ValueError("PhotoDNA hash must be one token of at most 2048 characters")
    return v


REGISTRY: dict[str, SignalType] = {s.name: s for s in (
    SignalType("md5", "exact", 32, 0, ("video_md5", "photo_md5"), _digest("md5"), _equal),
    SignalType("sha1", "exact", 40, 0, (), _digest("sha1"), _equal),
    SignalType("sha256", "exact", 64, 0, ("video_sha256", "photo_sha256"), _digest("sha256"),
               _equal),
    SignalType("pdq", "hamming", pdq.HEX_DIGITS, pdq.MATCH_DISTANCE, (), _pdq, pdq.hamming),
    SignalType("vpdq", "video", None, pdq.MATCH_DISTANCE, (), _vpdq),
    SignalType("photodna", "none", None, None, (), _photodna),
)}
ALIASES: dict[str, str] = {a: s.name for s in REGISTRY.values() for a in (s.name, *s.aliases)}
NAMES: tuple[str, ...] = tuple(REGISTRY)


def get(name: str) -> SignalType:
    """The type called `name` (or one of its aliases); UnknownSignalType otherwise."""
    canonical = ALIASES.get(name.strip().lower()) if isinstance(name, str) else None
    if canonical is None:
        raise UnknownSignalType(f"No such SignalType {name!r}")
    return REGISTRY[canonical]


def by_index(kind: IndexKind) -> tuple[SignalType, ...]:
    """Every type served by one kind of index, in registry order."""
    return tuple(s for s in REGISTRY.values() if s.index == kind)


def digest_bytes() -> dict[str, int]:
    """{name: digest width in bytes} of the exact-match types (the matcher's digest tables)."""
    return {s.name: (s.hex_digits or 0) // 2 for s in by_index("exact")}
