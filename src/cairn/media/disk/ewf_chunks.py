"""An E01's media, read chunk by chunk in order straight from its table sections: for
verifying the stored hashes, which read every chunk once and in order, without the seek, the
sector arithmetic and the chunk cache of the random-access stream (dissect.evidence's).

Each segment's chunks are read a window (a few MiB of the file) at a time and inflated
with ISA-L (`isal`, about twice zlib's speed) where it is installed, else zlib; windows are
inflated on two threads (both release the GIL), handed on in order."""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

try:  # ISA-L's inflate: the same bytes as zlib's, about twice as fast
    from isal import isal_zlib as _fast_zlib
    _inflater: Callable[[], Any] = _fast_zlib.decompressobj
except ImportError:  # pragma: no cover - isal is pinned; zlib is the same result
    _inflater = zlib.decompressobj

WINDOW = 4 << 20  # file bytes read at once
THREADS = 2
AHEAD = 4  # windows in flight


class ChunkError(Exception):
    """A chunk cannot be located or inflated: the table or the data is damaged."""


def _spans(table: Any) -> Iterator[tuple[int, int, bool]]:
    """(file offset, stored size, compressed) of each chunk of a dissect TableSection, its
    sizes worked out from the next entry's offset as dissect does (and the last chunk's
    from the table section it precedes or sits in)."""
    entries, base, n = table.entries, table.base_offset, table.num_entries
    section = table.section
    for i in range(n):
        entry = entries[i]
        offset = base + (entry & 0x7FFFFFFF)
        compressed = entry >> 31 == 1
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
        yield offset, size, compressed


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


def _decode(data: bytes, start: int, run: list[tuple[int, int, bool]], limit: int) -> bytes:
    view = memoryview(data)
    out = []
    for offset, size, compressed in run:
        raw = view[offset - start: offset - start + size]
        if len(raw) != size:
            raise ChunkError(f"the file ends inside the chunk at offset {offset}")
        try:
            out.append(inflate(raw, limit) if compressed else bytes(raw))
        except Exception as e:  # noqa: BLE001 - a corrupt chunk is named, not a crash
            raise ChunkError(f"the chunk at offset {offset} does not inflate: {e}") from None
    return b"".join(out)


def media_blocks(ewf: Any, size: int) -> Iterator[bytes]:
    """The media of dissect EWF `ewf`, `size` bytes, in order, a window's chunks at a time.
    Reading the files stays on the calling thread (one file position each); inflating runs
    on THREADS threads, AHEAD windows ahead."""
    left = size
    with ThreadPoolExecutor(THREADS, thread_name_prefix="ewf-inflate") as pool:
        pending: deque[Future[bytes]] = deque()
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
                block = pending.popleft().result()
                if left <= len(block):
                    yield block[:left]
                    for f in pending:
                        f.cancel()
                    return
                left -= len(block)
                yield block
    if left:
        raise ChunkError(f"the chunks end {left} bytes short of the media size {size}")
