"""An E01's media read straight from its table sections (dissect.evidence parses the
sections; the chunks are located, read and inflated here), two ways:

- `media_blocks`: every chunk once, in order, for verifying the stored hashes. Each
  segment's chunks are read a window (a few MiB of the file) at a time and inflated on two
  threads (both release the GIL), handed on in order.
- `ChunkStream`: the seekable disk the file systems read files through. A read locates its
  chunks by bisecting the tables' first chunk numbers, reads each run of them lying one after
  the other in a segment file with one read, inflates them and joins the wanted bytes once;
  a chunk a read leaves part of (metadata, a file ending mid-chunk) is kept in a small LRU,
  so the next read of it inflates nothing. Measured on the 1 GiB ingest bench (ext4 E01):
  reading every file cost 3.0 s of CPU through dissect's stream (zlib 1.7 s, eight joins of
  the same bytes 0.7 s) and costs about 1 s here.

Both inflate with ISA-L (`isal`, about twice zlib's speed) where it is installed, else zlib.
A chunk that cannot be read or inflated is a `ChunkError` naming it (its number, segment and
file offset), never short or shifted bytes."""

from __future__ import annotations

import zlib
from bisect import bisect_right
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

from cairn.media.disk.rawio import SeekableRaw

try:  # ISA-L's inflate: the same bytes as zlib's, about twice as fast
    from isal import isal_zlib as _fast_zlib
    _inflater: Callable[[], Any] = _fast_zlib.decompressobj
except ImportError:  # pragma: no cover - isal is pinned; zlib is the same result
    _inflater = zlib.decompressobj

WINDOW = 4 << 20  # file bytes read at once
THREADS = 2
AHEAD = 4  # windows in flight
RUN = 16 << 20  # most file bytes ChunkStream reads at once for the chunks one read needs
CACHED = 256  # chunks ChunkStream keeps inflated: 8 MiB of 32 KiB chunks


class ChunkError(Exception):
    """A chunk cannot be located or inflated: the table or the data is damaged."""


def span(table: Any, i: int) -> tuple[int, int, bool]:
    """(file offset, stored size, compressed) of chunk `i` of a dissect TableSection, its
    size worked out from the next entry's offset as dissect does (and the last chunk's from
    the table section it precedes or sits in)."""
    entries, base, n = table.entries, table.base_offset, table.num_entries
    entry = entries[i]
    offset = base + (entry & 0x7FFFFFFF)
    compressed = entry >> 31 == 1
    section = table.section
    if i + 1 < n:
        size = base + (entries[i + 1] & 0x7FFFFFFF) - offset
    elif offset < section.offset:
        size = section.offset - offset
    elif offset < section.offset + section.size:
        size = section.offset + section.size - offset
    else:
        raise ChunkError(f"the last chunk of a table lies outside it (offset {offset})")
    if not compressed:
        size -= 4  # an uncompressed chunk carries a 4-byte checksum
    if size < 0:
        raise ChunkError(f"a chunk at offset {offset} has a negative size")
    return offset, size, compressed


def _spans(table: Any) -> Iterator[tuple[int, int, bool]]:
    """`span` of each chunk of a table, in order."""
    for i in range(table.num_entries):
        yield span(table, i)


def _windows(ewf: Any) -> Iterator[tuple[Any, int, list[tuple[int, int, bool]]]]:
    """(segment file, window start, chunks) covering every chunk of every segment in order,
    each window a run of chunks lying one after the other in the file, at most WINDOW long
    and at most WINDOW of media once inflated (a run of zeros inflates a thousandfold)."""
    most = max(1, WINDOW // max(1, ewf.chunk_size))
    for idx in range(len(ewf.fh)):
        seg = ewf.segment(idx)
        for table in seg.tables:
            run: list[tuple[int, int, bool]] = []
            for span in _spans(table):
                if run and (span[0] != run[-1][0] + run[-1][1] + (0 if run[-1][2] else 4)
                            or span[0] + span[1] - run[0][0] > WINDOW or len(run) >= most):
                    yield seg.fh, run[0][0], run
                    run = []
                run.append(span)
            if run:
                yield seg.fh, run[0][0], run


def inflate(raw: Any, limit: int) -> bytes:
    """One compressed chunk, inflated to at most `limit` bytes (the chunk size): a chunk that
    would inflate further is damaged or hostile, and is not inflated whole."""
    d = _inflater()
    out: bytes = d.decompress(raw, limit)
    if d.unconsumed_tail:
        raise ChunkError(f"inflates past the chunk size {limit}")
    return out


Pieces = list[Any]  # a window's chunks: views of the window read (stored), or inflated bytes


def _decode(data: bytes, start: int, run: list[tuple[int, int, bool]], limit: int) -> Pieces:
    view = memoryview(data)
    out: Pieces = []
    for offset, size, compressed in run:
        raw = view[offset - start: offset - start + size]
        if len(raw) != size:
            raise ChunkError(f"the file ends inside the chunk at offset {offset}")
        try:
            out.append(inflate(raw, limit) if compressed else raw)
        except Exception as e:  # noqa: BLE001 - a corrupt chunk is named, not a crash
            raise ChunkError(f"the chunk at offset {offset} does not inflate: {e}") from None
    return out


def media_blocks(ewf: Any, size: int) -> Iterator[bytes]:
    """The media of dissect EWF `ewf`, `size` bytes, in order, a window's chunks at a time
    (`media_pieces`, joined)."""
    for pieces in media_pieces(ewf, size):
        yield b"".join(pieces)


def media_pieces(ewf: Any, size: int) -> Iterator[Pieces]:
    """The media of dissect EWF `ewf`, `size` bytes, in order, a window's chunks at a time,
    not joined (a hash takes them one by one: no copy of the media, 0.3 s a GiB). Reading
    the files stays on the calling thread (one file position each); inflating runs on
    THREADS threads, AHEAD windows ahead."""
    left = size
    with ThreadPoolExecutor(THREADS, thread_name_prefix="ewf-inflate") as pool:
        pending: deque[Future[Pieces]] = deque()
        windows = _windows(ewf)
        done = False
        while not done or pending:
            while not done and len(pending) < AHEAD:
                item = next(windows, None)
                if item is None:
                    done = True
                    break
                fh, start, run = item
                last = run[-1]
                fh.seek(start)
                data = fh.read(last[0] + last[1] - start)
                pending.append(pool.submit(_decode, data, start, run, ewf.chunk_size))
            if pending:
                pieces = pending.popleft().result()
                n = sum(len(p) for p in pieces)
                if left <= n:
                    for f in pending:
                        f.cancel()
                    out: Pieces = []
                    for p in pieces:
                        out.append(p[:left])
                        left -= len(out[-1])
                        if not left:
                            break
                    yield out
                    return
                left -= n
                yield pieces
    if left:
        raise ChunkError(f"the chunks end {left} bytes short of the media size {size}")


class ChunkStream(SeekableRaw):
    """The media of dissect EWF `ewf` (`size` bytes) as a seekable, read-only stream: see
    the module's docstring. Not for two threads at once (one file position per segment),
    as dissect's stream was not either: a second reader opens the image again."""

    def __init__(self, ewf: Any, size: int) -> None:
        self.ewf, self.size, self.pos = ewf, size, 0
        self.chunk_size: int = ewf.chunk_size
        self._firsts: list[int] = []  # the media chunk number each table starts at
        self._tables: list[tuple[BinaryIO, Any, int]] = []  # (segment file, table, segment)
        n = 0
        for idx in range(len(ewf.fh)):
            seg = ewf.segment(idx)
            for table in seg.tables:
                if not table.num_entries:
                    continue  # an empty table would shadow the next one's first chunk
                self._firsts.append(n)
                self._tables.append((seg.fh, table, idx + 1))
                n += table.num_entries
        self.chunks = n
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._scratch = bytearray()  # the last run read: reused, so no fresh pages each read

    def read(self, n: int | None = -1) -> bytes:
        start = self.pos
        end = self.size if n is None or n < 0 else min(self.size, start + n)
        if end <= start:
            return b""
        cs = self.chunk_size
        pieces: list[Any] = []
        k, last = start // cs, (end - 1) // cs
        while k <= last:
            held = self._cache.get(k)
            if held is not None:
                self._cache.move_to_end(k)
            elif pieces:  # may be views of the scratch buffer, which _load reuses
                pieces = [b"".join(pieces)]
            for data in [held] if held is not None else self._load(k, last):
                base = k * cs
                lo, hi = max(start, base) - base, min(end, base + cs) - base
                if len(data) < hi:
                    raise ChunkError(f"{self._name(k)} holds {len(data)} bytes, not the "
                                     f"{min(cs, self.size - base)} of the media it stands for")
                pieces.append(data if lo == 0 and hi == len(data) else memoryview(data)[lo:hi])
                if held is None and (lo or hi < len(data)):  # read again by the next read
                    self._cache[k] = bytes(data)
                    if len(self._cache) > CACHED:
                        self._cache.popitem(last=False)
                k += 1
        self.pos = end
        return b"".join(pieces)

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, b: Any) -> int:
        data = self.read(len(memoryview(b).cast("B")))
        memoryview(b).cast("B")[: len(data)] = data
        return len(data)

    def _locate(self, k: int) -> tuple[int, BinaryIO, Any, int]:
        """(table index, segment file, table, chunk number in the table) of media chunk k."""
        t = bisect_right(self._firsts, k) - 1
        if t < 0 or k >= self.chunks:
            raise ChunkError(f"media chunk {k} is past the image's tables ({self.chunks} chunks)")
        fh, table, _ = self._tables[t]
        return t, fh, table, k - self._firsts[t]

    def _name(self, k: int) -> str:
        """Chunk k as an error names it: number, segment, file offset where known."""
        try:
            t, _, table, i = self._locate(k)
            return f"EWF chunk {k} (segment {self._tables[t][2]}, file offset " \
                   f"{span(table, i)[0]})"
        except ChunkError:
            return f"EWF chunk {k}"

    def _load(self, k: int, last: int) -> list[Any]:
        """Chunks k.. (at most to `last`, in k's table, not cached, one after the other in
        the segment file, at most RUN bytes of it), read with one read and inflated: each an
        uncompressed chunk's bytes (a view of the read) or a compressed one's inflated."""
        t, fh, table, i = self._locate(k)
        cs = self.chunk_size
        stop = min(last + 1, self._firsts[t] + table.num_entries)
        run: list[tuple[int, int, bool]] = []
        end = 0
        for j in range(k, stop):
            if run and j in self._cache:
                break
            offset, size, compressed = span(table, i + j - k)
            # a chunk holds at most the chunk size: a larger stored size (a damaged table)
            # is not read whole; deflate may add a little to incompressible data
            size = min(size, cs + cs // 8 + 1024 if compressed else cs)
            if run and (offset != end or offset + size - run[0][0] > RUN):
                break
            run.append((offset, size, compressed))
            end = offset + size + (0 if compressed else 4)
        first = run[0][0]
        want = run[-1][0] + run[-1][1] - first
        if len(self._scratch) < want:
            self._scratch = bytearray(want)
        fh.seek(first)
        data = memoryview(self._scratch)[: fh.readinto(memoryview(self._scratch)[:want])]  # type: ignore[attr-defined]
        out: list[Any] = []
        for n, (offset, size, compressed) in enumerate(run):
            raw = data[offset - first: offset - first + size]
            if len(raw) != size:
                raise ChunkError(f"{self._name(k + n)}: the segment file ends inside it")
            if not compressed:
                out.append(raw)
                continue
            try:
                out.append(inflate(raw, cs))
            except Exception as e:  # noqa: BLE001 - a corrupt chunk is named, not a crash
                raise ChunkError(f"{self._name(k + n)} does not inflate: {e}") from None
        return out
