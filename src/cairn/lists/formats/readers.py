"""python-threatexchange dataset CSV and local-file lines, md5sum-style lines, plain lists."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cairn.lists.formats.base import (
    SIGNAL_TYPES,
    TE_NAMES,
    Entry,
    ListFormatError,
    Rejected,
    normalise,
)

TE_CSV_HEADER = ["signal_type", "signal_str", "collab", "category", "tags"]

_HASHSUM = re.compile(r"^\\?([0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})[ \t][ *]?(.*)$")
_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256"}


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
        if first in TE_NAMES and len(line.split()) == 2:
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
        st = TE_NAMES.get(raw_type)
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
        st = TE_NAMES.get(parts[0].lower())
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


@dataclass(frozen=True, slots=True)
class ListFormat:
    """One list format's reader: `sniff` says whether a file's head is this format (binary
    head, and the same decoded as text), `read` streams its entries. Registered in FORMATS,
    in the order auto-detection tries them; tests/test_list_formats.py runs every one through
    the same checks (bad entries rejected with a position, garbage refused, nothing raised)."""
    name: str
    sniff: Callable[[bytes, str], bool]
    read: Callable[[Path, bytes, list[Rejected], str | None], Iterator[Entry]]
    folder: bool = False  # a folder can be one (a MISP feed)


def _streamed(reader: Callable[[IO[bytes], list[Rejected]], Iterator[Entry]]
              ) -> Callable[[Path, bytes, list[Rejected], str | None], Iterator[Entry]]:
    def read(p: Path, head: bytes, rejected: list[Rejected], signal_type: str | None
             ) -> Iterator[Entry]:
        with p.open("rb") as f:
            yield from reader(f, rejected)
    return read


def _text(reader: Callable[[str, list[Rejected], str | None], Iterator[Entry]]
          ) -> Callable[[Path, bytes, list[Rejected], str | None], Iterator[Entry]]:
    def read(p: Path, head: bytes, rejected: list[Rejected], signal_type: str | None
             ) -> Iterator[Entry]:
        yield from reader(p.read_bytes().decode("utf-8-sig", errors="replace"), rejected,
                          signal_type)
    return read


def _nsrl(p: Path, head: bytes, rejected: list[Rejected], signal_type: str | None
          ) -> Iterator[Entry]:
    from cairn.lists.formats import nsrl

    kind = nsrl.sniff(head)
    if kind == "nsrl-rds3":
        yield from nsrl.read_rds3(p, rejected, signal_type)
        return
    if kind != "nsrl-rds2":
        raise ListFormatError(f"{p}: neither an NSRL RDSv3 database nor RDSv2 CSV")
    with nsrl.open_text(p) as f:
        yield from nsrl.read_rds2(f, rejected, signal_type)


def _misp(p: Path, head: bytes, rejected: list[Rejected], signal_type: str | None
          ) -> Iterator[Entry]:
    from cairn.lists.formats import misp

    yield from misp.read_misp(p, rejected)


def _json_sniff(module: str) -> Callable[[bytes, str], bool]:
    def sniff(head: bytes, text: str) -> bool:
        import importlib

        return text.startswith("{") and bool(
            importlib.import_module(f"cairn.lists.formats.{module}").sniff(text))
    return sniff


def _vics(f: IO[bytes], rejected: list[Rejected]) -> Iterator[Entry]:
    from cairn.lists.formats import vics

    return vics.read_vics(f, rejected)


def _stix(f: IO[bytes], rejected: list[Rejected]) -> Iterator[Entry]:
    from cairn.lists.formats import stix

    return stix.read_stix(f, rejected)


def _nsrl_sniff(head: bytes, text: str) -> bool:
    from cairn.lists.formats import nsrl

    return nsrl.sniff(head) is not None


def _text_sniff(name: str) -> Callable[[bytes, str], bool]:
    return lambda head, text: not text.startswith("{") and detect_format(text) == name


def _te_csv_read(text: str, rejected: list[Rejected], signal_type: str | None
                 ) -> Iterator[Entry]:
    return _te_csv(text, rejected)


def _te_local_read(text: str, rejected: list[Rejected], signal_type: str | None
                   ) -> Iterator[Entry]:
    return _te_local(text, rejected)


READERS: dict[str, ListFormat] = {f.name: f for f in (
    ListFormat("nsrl", _nsrl_sniff, _nsrl),
    ListFormat("vics", _json_sniff("vics"), _streamed(_vics)),
    ListFormat("stix", _json_sniff("stix"), _streamed(_stix)),
    ListFormat("misp", _json_sniff("misp"), _misp, folder=True),
    ListFormat("te-csv", _text_sniff("te-csv"), _text(_te_csv_read)),
    ListFormat("te-local", _text_sniff("te-local"), _text(_te_local_read)),
    ListFormat("hashsum", _text_sniff("hashsum"), _text(_hashsum)),
    ListFormat("plain", _text_sniff("plain"), _text(_plain)),
)}
FORMATS = tuple(READERS)


def open_list(path: str | Path, fmt: str = "auto", signal_type: str | None = None
              ) -> tuple[str, Iterator[Entry], list[Rejected]]:
    """(format used, entries as a stream, rejected lines filled in as the stream is read).

    Streams: a VICS, STIX, MISP or NSRL set of millions of entries is never held in memory.
    Auto-detection reads the head of the file (or finds a MISP feed's manifest.json) and asks
    each registered format in turn."""
    p = Path(path)
    if signal_type is not None and signal_type not in SIGNAL_TYPES:
        raise ListFormatError(f"unknown signal type {signal_type!r}; one of {SIGNAL_TYPES}")
    if fmt not in ("auto", *FORMATS):
        raise ListFormatError(f"unknown list format {fmt!r}; one of {FORMATS}")
    rejected: list[Rejected] = []
    if p.is_dir():
        folders = [f for f in READERS.values() if f.folder]
        if fmt not in ("auto", *(f.name for f in folders)) or not (p / "manifest.json").is_file():
            raise ListFormatError(f"{p}: a folder must be a MISP feed (with manifest.json)")
        return folders[0].name, folders[0].read(p, b"", rejected, signal_type), rejected
    try:
        with p.open("rb") as f:
            head = f.read(65536)
    except OSError as e:
        raise ListFormatError(f"{p}: cannot read: {e.strerror}") from None
    text_head = head.decode("utf-8-sig", errors="replace").lstrip()
    if fmt == "auto":
        found = next((f.name for f in READERS.values() if f.sniff(head, text_head)), None)
        if found is None:
            if text_head.startswith("{"):
                raise ListFormatError(f"{p}: JSON, but not VICS, a STIX bundle or a MISP "
                                      "event; give --format")
            found = "plain"
        fmt = found
    return fmt, READERS[fmt].read(p, head, rejected, signal_type), rejected


def read_list(path: str | Path, fmt: str = "auto", signal_type: str | None = None
              ) -> tuple[str, list[Entry], list[Rejected]]:
    """Parse a whole list: (format used, valid entries, rejected lines)."""
    used, stream, rejected = open_list(path, fmt, signal_type)
    return used, list(stream), rejected
