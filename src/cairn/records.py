"""The named shapes that cross package boundaries: an item as a scan worker records it, its
signals, errors and matches, and an item as the store reads it back for a report or the API.

`TypedDict`s, not classes: at run time they are the plain dicts every JSON output and every
pickled worker record already is (byte for byte), and mypy checks each key read or written.
`Required`/`NotRequired` say which keys every record has; tests/test_records.py holds real
scans, reports, item reads and lookups to exactly these keys. DESIGN.md ("Signal and finding
shapes") shows the JSON.

A finding is the one shape kept open: `FindingRecord` is `provenance.finding.Finding.to_dict()`
(`kind`, `strength`, `source`, `error`, then its reader's own keys: a generator's model hash,
a C2PA signer...), a key set per reader that a closed TypedDict cannot state until PEP 728
(`extra_items`) reaches the type checker. The dataclass is its typed form.

No `from __future__ import annotations` here: Python 3.11 reads `NotRequired` in a TypedDict
only from evaluated annotations (`__required_keys__`, which the tests use). This module
imports nothing of Cairn (an import-linter contract keeps it so): every package
may name these shapes.
"""

from typing import Any, NotRequired, TypedDict

FindingRecord = dict[str, Any]  # provenance.finding.Finding.to_dict(); see the module


class ErrorRecord(TypedDict):
    """Why something of an item was not read (`errors`): the stage (read, decode, archive,
    disk, sniff, hash, provenance, integrity, walk, worker) and the message."""

    stage: str
    message: str


class PdqSignal(TypedDict):
    """An item's PDQ as stored and reported: 64 hex digits, quality 0-100, `exact`/`fast`."""

    hash: str
    quality: int
    mode: str
    note: NotRequired[str]  # reports only: why a `fast` one is not shared as it is


class PdqVariant(TypedDict):
    """Another reading of the same picture (palette as RGB, border cropped): its quality and
    8 turns, looked up when the plain hash matches nothing."""

    name: str
    quality: int
    dihedral: list[str]


class ScanPdq(PdqSignal):
    """A scan record's PDQ: also its 8 turns (none, rot90 ... flipminus1) and variants."""

    dihedral: list[str]
    fallbacks: list[PdqVariant]
    variants: NotRequired[list[PdqVariant]]


class VpdqSignal(TypedDict):
    """A video's vPDQ as stored and reported: python-threatexchange's signal text, how many
    frames it holds, and the mode."""

    signal: str
    frames: int
    mode: str
    note: NotRequired[str]  # reports only: why a `fast` one is not shared as it is


class ScanVpdq(TypedDict):
    """A scan record's vPDQ: the signal and its frames as (seconds, hex, quality)."""

    mode: str
    interval: float
    signal: str
    frames: list[tuple[float, str, int]]


class ScanRecord(TypedDict):
    """One location of evidence as a scan worker records it (scan/worker.py): its identity
    (`path`, `raw_path` bytes, `ordinal`, `parent`), size and mtime, and errors; then what
    reading found. Pickled from an isolated worker; `store.records.Records.add` writes it."""

    path: str
    parent: str | None
    size: int | None
    mtime: float | None
    errors: list[ErrorRecord]
    raw_path: bytes
    ordinal: int
    kind: NotRequired[str]  # image video archive disk model other symlink special
    media_type: NotRequired[str | None]
    md5: NotRequired[str]
    sha1: NotRequired[str]
    sha256: NotRequired[str]
    width: NotRequired[int]
    height: NotRequired[int]
    pdq: NotRequired[ScanPdq]
    vpdq: NotRequired[ScanVpdq]
    findings: NotRequired[list[FindingRecord]]
    # where it came from: a disk image's volume and state, or a container's description
    # of a member (a phone path and app, a deleted flag, reported hashes)
    origin: NotRequired[str | dict[str, Any]]
    atime_note: NotRequired[str]
    deleted: NotRequired[bool]  # in a disk image's file system
    carved: NotRequired[bool]


class NewMatch(TypedDict):
    """A match as the matcher finds it (`lists.matcher.Match.to_dict()`), before it is
    recorded: entry and list ids, the signal, distance and transform."""

    entry_id: int
    list_id: int
    signal: str
    distance: int
    transform: str
    timestamp: NotRequired[float]  # the video frame that matched a picture
    detail: NotRequired[dict[str, float]]  # vPDQ: query_percent, target_percent


class MatchEntry(TypedDict):
    """The list entry a recorded match hit, as a report names it."""

    value: str
    category: str | None
    labels: list[str]
    collab: str | None
    line: int | None
    origin: NotRequired[dict[str, Any]]  # a shared entry's sender and object
    status: NotRequired[str]  # withdrawn or false_positive (absent: active)
    tlp: str | None  # the entry's own marking
    list_tlp: str | None


class MatchRecord(TypedDict):
    """A recorded match as a report and the API read it (`store.records.case_items`)."""

    list: str
    signal: str
    distance: int
    transform: str
    timestamp: NotRequired[float]
    query_percent: NotRequired[float]  # vPDQ
    target_percent: NotRequired[float]
    status: str  # store.matches.MATCH_STATUSES
    status_at: NotRequired[str | None]  # who changed it and when (absent while active)
    status_by: NotRequired[str | None]
    status_note: NotRequired[str | None]
    entry: MatchEntry


class LookupEntry(TypedDict):
    value: str
    category: str | None
    labels: list[str]


class LookupMatch(TypedDict):
    """One match of a batch lookup (`POST /api/v1/lookup`)."""

    list: str
    signal: str
    distance: int
    transform: str
    timestamp: NotRequired[float]
    detail: NotRequired[dict[str, float]]
    entry: LookupEntry


class LookupResult(TypedDict):
    """One signal of a batch lookup, in the order asked, with its matches."""

    type: str
    value: str
    matches: list[LookupMatch]


class ReviewMark(TypedDict):
    """An item's active review as a report carries it."""

    scheme: str
    category: str
    by: str
    at: str


class ReportItem(TypedDict):
    """An item of a case report (`cases.report.build`, `cairn report --format json`): the
    shape DESIGN.md draws, with what tells apart items sharing a path and the review."""

    path: str
    source: str
    size: int | None
    md5: str | None
    sha1: str | None
    sha256: str | None
    media_type: str | None
    kind: str
    pdq: PdqSignal | None
    vpdq: NotRequired[VpdqSignal]
    matches: list[MatchRecord]
    findings: list[FindingRecord]
    errors: list[ErrorRecord]
    known_good: NotRequired[list[MatchRecord]]  # with include_known_good
    ordinal: NotRequired[int]
    version: NotRequired[int]
    note: NotRequired[str | None]
    atime_note: NotRequired[str]
    origin: NotRequired[str | dict[str, Any]]
    review: NotRequired[ReviewMark]


class ItemColumns(TypedDict):
    """What every full reading of an item carries: its row's identity (its source's name,
    path, ordinal and version), what the scan noted, and its content's hashes and size."""

    id: int
    source: str
    path: str
    parent_path: str | None
    ordinal: int
    version: int
    note: str | None
    atime_note: str | None
    kind: str
    media_type: str | None
    size: int | None
    mtime: float | None
    md5: str | None
    sha1: str | None
    sha256: str | None
    width: int | None
    height: int | None


class StoredItem(ItemColumns):
    """An item of a case as the store reads it back for a report (`Records.case_items`):
    its row, its source's name, and its content's signals, findings, errors and matches."""

    source_id: int
    scan_run_id: int
    raw_path: bytes
    location_key: bytes
    origin: str | None  # store.records.origin_text; origin_value reads it
    pdq: PdqSignal | None
    vpdq: VpdqSignal | None
    findings: list[FindingRecord]
    errors: list[ErrorRecord]
    matches: list[MatchRecord]


class ItemRow(TypedDict):
    """An item in a page of a case's items (`store.items.page`, `GET .../items`): identity
    and content hashes, and how many matches (counting and all) and errors it has."""

    id: int
    source: str
    path: str
    parent_path: str | None
    ordinal: int
    version: int
    kind: str
    media_type: str | None
    size: int | None
    md5: str | None
    sha1: str | None
    sha256: str | None
    width: int | None
    height: int | None
    active_matches: int  # active, against a list that is not known-good
    matches: int
    errors: int
    synthetic: NotRequired[bool]  # service.items adds it


class StoredSignal(TypedDict):
    """A content's signal row: type (pdq, pdq8, vpdq), mode, value, quality."""

    type: str
    mode: str
    value: str
    quality: int | None


class ItemMatchEntry(TypedDict):
    value: str
    category: str | None
    labels: list[str]
    collab: str | None
    line: int | None
    status: str


class ItemMatch(TypedDict):
    """A match of one item read in full (`store.items.item`), whatever its status."""

    list: str
    purpose: str
    signal: str
    distance: int
    transform: str
    timestamp: NotRequired[float]
    detail: NotRequired[dict[str, float]]
    status: str
    status_at: str | None
    status_by: str | None
    status_note: str | None
    entry: ItemMatchEntry


class ItemDetail(ItemColumns):
    """One item in full (`store.items.item`, `GET .../items/{id}`): its row, its content's
    signals and findings, its errors, matches, custody entries; the service adds whether it
    is synthetic and its trace family."""

    signals: list[StoredSignal]
    findings: list[FindingRecord]
    errors: list[ErrorRecord]
    matches: list[ItemMatch]
    custody: list[dict[str, Any]]  # store.custody.row_entry
    synthetic: NotRequired[bool]
    family: NotRequired[dict[str, Any] | None]  # its trace family (service/families.py)
    family_pending: NotRequired[bool]  # the families are still being computed (large case)
