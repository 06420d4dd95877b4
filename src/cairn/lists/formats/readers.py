"""python-threatexchange dataset CSV and local-file lines, md5sum-style lines, plain lists."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cairn.signals import crypto, pdq, vpdq

FORMATS = ("te-csv", "te-local", "hashsum", "plain", "vics", "stix", "misp", "nsrl")
SIGNAL_TYPES = ("md5", "sha1", "sha256", "pdq", "vpdq", "photodna")
# PhotoDNA hashes cannot be computed here (the algorithm is licensed): they are carried
# through imports and exports untouched, counted, and never matched.
TE_CSV_HEADER = ["signal_type", "signal_str", "collab", "category", "tags"]

# python-threatexchange signal names (and a few common spellings) -> ours
_TE_NAMES = {
    "pdq": "pdq", "vpdq": "vpdq", "md5": "md5", "video_md5": "md5", "photo_md5": "md5",
    "sha1": "sha1", "sha256": "sha256", "video_sha256": "sha256", "photo_sha256": "sha256",
}
_HASHSUM = re.compile(r"^\\?([0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})[ \t][ *]?(.*)$")
_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256"}
MAX_VPDQ = 1 << 20  # characters in one vPDQ signal: an hour at one frame a second is 300 KB


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


_HEX = re.compile(r"[0-9a-fA-F]+")


def normalise(signal_type: str, value: str) -> str:
    """The canonical form of a hash; ValueError naming what is wrong (never another error)."""
    if not isinstance(value, str):
        raise ValueError(f"{signal_type} hash must be a string, not {type(value).__name__}")
    if signal_type in ("md5", "sha1", "sha256", "pdq") and not _HEX.fullmatch(value.strip()):
        # int(x, 16) and bytes.fromhex also take '0x', '_', signs, spaces and non-ASCII digits
        raise ValueError(f"{signal_type} hash is not hexadecimal: {value[:80]!r}")
    if signal_type == "pdq":
        hx = pdq.normalise_hex(value)
        ones = bin(int(hx, 16)).count("1")
        if ones in (0, 256) or not 32 <= ones <= 224:
            # PDQ sets bits against the median coefficient: about half are ones. A hash this
            # lopsided is a placeholder or corruption, and would match flat pictures en masse.
            raise ValueError(f"degenerate PDQ hash ({ones} of 256 bits set); not a picture's PDQ")
        return hx
    if signal_type == "vpdq":
        if len(value) > MAX_VPDQ:
            raise ValueError(f"vPDQ signal of {len(value):,} characters (limit {MAX_VPDQ:,})")
        try:
            return vpdq.to_signal(vpdq.parse_signal(value))
        except RecursionError:  # json.loads of '[[[[…' nested thousands deep
            raise ValueError("vPDQ signal nested too deep") from None
    if signal_type == "photodna":
        v = value.strip()
        if not v or len(v) > 2048 or any(c.isspace() for c in v):
            raise ValueError("PhotoDNA hash must be one token of at most 2048 characters")
        return v
    return crypto.normalise_hex(value, signal_type)


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s and not s.startswith("#"):
            yield n, s


def detect_format(text: str) -> str:
    for _, line in _lines(text):
        low = line.lower().replace(" ", "")
        if low.startswith("signal_type,signal_str"):
            return "te-csv"
        first = line.split(None, 1)[0].lower()
        if first in _TE_NAMES and len(line.split()) == 2:
            return "te-local"
        if _HASHSUM.match(line):
            return "hashsum"
        return "plain"
    return "plain"


@dataclass(slots=True)
class TeCsvRow:
    """One python-threatexchange CSV row, checked: cells restored from CSV-injection
    neutralising (see csvcells), bounded, the hash normalised."""
    signal_type: str
    value: str
    collab: str | None
    category: str | None
    tags: list[str]

    @classmethod
    def parse(cls, rec: dict[str, str]) -> TeCsvRow:
        from cairn.lists.formats import fields

        raw_type = rec.get("signal_type", "").lower()
        st = _TE_NAMES.get(raw_type)
        if st is None:
            raise ValueError(f"unsupported signal type {raw_type[:40]!r}")
        value = normalise(st, rec.get("signal_str", ""))
        collab = fields.text(rec.get("collab"), "collab")
        category = fields.text(rec.get("category"), "category")
        tags = fields.text_list((rec.get("tags") or "").split(), "tags")
        return cls(st, value, collab, category, tags)


def _te_csv(text: str, rejected: list[Rejected]) -> Iterator[Entry]:
    from cairn.lists.formats.csvcells import restore

    reader = csv.reader(io.StringIO(text))
    header = None
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            # a field over csv's limit (131,072 characters), a stray carriage return: this row
            # only; the reader starts afresh on the next line
            rejected.append(Rejected(reader.line_num, "", f"unreadable CSV row: {e}"))
            continue
        n = reader.line_num
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [h.strip().lower() for h in row]
            missing = [h for h in TE_CSV_HEADER[:2] if h not in header]
            if missing:
                raise ListFormatError(
                    f"line {n}: python-threatexchange CSV header must include "
                    f"{','.join(TE_CSV_HEADER)}; missing {', '.join(missing)}")
            continue
        rec = dict(zip(header, (restore(c.strip()) for c in row), strict=False))
        try:
            r = TeCsvRow.parse(rec)
        except ValueError as e:
            rejected.append(Rejected(n, ",".join(row)[:200], str(e)))
            continue
        yield Entry(r.signal_type, r.value, n, r.category, r.tags, r.collab)


def _te_local(text: str, rejected: list[Rejected]) -> Iterator[Entry]:
    for n, line in _lines(text):
        parts = line.split()
        if len(parts) != 2:
            rejected.append(Rejected(n, line, "expected '<signal_type> <value>'"))
            continue
        st = _TE_NAMES.get(parts[0].lower())
        if st is None:
            rejected.append(Rejected(n, line, f"unsupported signal type {parts[0]!r}"))
            continue
        try:
            yield Entry(st, normalise(st, parts[1]), n)
        except ValueError as e:
            rejected.append(Rejected(n, line, str(e)))


def _hashsum(text: str, rejected: list[Rejected], signal_type: str | None) -> Iterator[Entry]:
    for n, line in _lines(text):
        m = _HASHSUM.match(line)
        if not m:
            rejected.append(Rejected(n, line, "expected '<hex digest>  <file name>'"))
            continue
        digest, name = m.group(1), m.group(2).strip()
        if line.startswith("\\"):  # GNU md5sum escapes a name holding \n or \\
            name = name.replace("\\\\", "\0").replace("\\n", "\n").replace("\0", "\\")
        st = signal_type or _BY_LENGTH[len(digest)]
        try:
            value = normalise(st, digest)
        except ValueError as e:
            rejected.append(Rejected(n, line, str(e)))
            continue
        yield Entry(st, value, n, labels=[f"file:{name}"] if name else [])


def _plain(text: str, rejected: list[Rejected], signal_type: str | None) -> Iterator[Entry]:
    if signal_type is None:
        raise ListFormatError(
            "a plain list (one hash per line) needs --type md5|sha1|sha256|pdq")
    for n, line in _lines(text):
        try:
            yield Entry(signal_type, normalise(signal_type, line.split()[0]), n)
        except ValueError as e:
            rejected.append(Rejected(n, line, str(e)))


def open_list(path: str | Path, fmt: str = "auto", signal_type: str | None = None
              ) -> tuple[str, Iterator[Entry], list[Rejected]]:
    """(format used, entries as a stream, rejected lines filled in as the stream is read).

    Streams: a VICS, STIX, MISP or NSRL set of millions of entries is never held in memory.
    Auto-detection reads the head of the file (or finds a MISP feed's manifest.json)."""
    from cairn.lists.formats import misp, nsrl, stix, vics

    p = Path(path)
    if signal_type is not None and signal_type not in SIGNAL_TYPES:
        raise ListFormatError(f"unknown signal type {signal_type!r}; one of {SIGNAL_TYPES}")
    if fmt not in ("auto", *FORMATS):
        raise ListFormatError(f"unknown list format {fmt!r}; one of {FORMATS}")
    rejected: list[Rejected] = []
    if p.is_dir():
        if fmt not in ("auto", "misp") or not (p / "manifest.json").is_file():
            raise ListFormatError(f"{p}: a folder must be a MISP feed (with manifest.json)")
        return "misp", misp.read_misp(p, rejected), rejected
    try:
        with p.open("rb") as f:
            head = f.read(65536)
    except OSError as e:
        raise ListFormatError(f"{p}: cannot read: {e.strerror}") from None
    text_head = head.decode("utf-8-sig", errors="replace").lstrip()
    if fmt == "auto":
        if nsrl.sniff(head):
            fmt = "nsrl"
        elif text_head.startswith("{"):
            fmt = ("vics" if vics.sniff(text_head) else "stix" if stix.sniff(text_head)
                   else "misp" if misp.sniff(text_head) else "")
            if not fmt:
                raise ListFormatError(f"{p}: JSON, but not VICS, a STIX bundle or a MISP "
                                      "event; give --format")
    if fmt in ("vics", "stix"):
        reader = vics.read_vics if fmt == "vics" else stix.read_stix

        def stream() -> Iterator[Entry]:
            with p.open("rb") as f:
                yield from reader(f, rejected)
        return fmt, stream(), rejected
    if fmt == "misp":
        return fmt, misp.read_misp(p, rejected), rejected
    if fmt == "nsrl":
        kind = nsrl.sniff(head)
        if kind == "nsrl-rds3":
            return fmt, nsrl.read_rds3(p, rejected, signal_type), rejected
        if kind != "nsrl-rds2":
            raise ListFormatError(f"{p}: neither an NSRL RDSv3 database nor RDSv2 CSV")

        def rds2() -> Iterator[Entry]:
            with nsrl.open_text(p) as f:
                yield from nsrl.read_rds2(f, rejected, signal_type)
        return fmt, rds2(), rejected
    text = p.read_bytes().decode("utf-8-sig", errors="replace")
    if fmt == "auto":
        fmt = detect_format(text)
    if fmt == "te-csv":
        return fmt, _te_csv(text, rejected), rejected
    if fmt == "te-local":
        return fmt, _te_local(text, rejected), rejected
    if fmt == "hashsum":
        return fmt, _hashsum(text, rejected, signal_type), rejected
    return fmt, _plain(text, rejected, signal_type), rejected


def read_list(path: str | Path, fmt: str = "auto", signal_type: str | None = None
              ) -> tuple[str, list[Entry], list[Rejected]]:
    """Parse a whole list: (format used, valid entries, rejected lines)."""
    used, stream, rejected = open_list(path, fmt, signal_type)
    return used, list(stream), rejected
