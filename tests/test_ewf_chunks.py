"""An E01's media read chunk by chunk from its tables, in order (the verify pass) and at
random (ChunkStream, the file reads): the same bytes as the disk ewfacquire acquired,
compressed or not, across segments; a damaged compressed chunk makes verification fail, and
a read of it an error, naming the chunk."""

from __future__ import annotations

import hashlib
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.media.disk import detect, ewf_chunks
from cairn.media.disk.images import DiskImage, open_image, open_readonly, verify
from test_disk_images import ewf, gpt_disk, make_tree, records


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chunks")
    out = gpt_disk(root / "disk.img", make_tree(root))
    with out.open("ab") as f:  # data no compressor shrinks, and a run of zeros
        f.write(os.urandom(3 << 20) + bytes(1 << 20) + os.urandom(12345 * 512))
    return out


@pytest.mark.parametrize("compression", ["deflate:fast", "deflate:best", "none"])
def test_chunks_are_the_acquired_media(tmp_path: Path, disk: Path, compression: str) -> None:
    e01 = ewf(disk, tmp_path / "d", "-c", compression, "-S", "2MiB")
    assert (tmp_path / "d.E02").exists()  # several segments
    p = os.fsencode(e01)
    with open_readonly(p) as f, open_image(f, detect.EWF, p) as img:
        got = b"".join(ewf_chunks.media_blocks(img.stream.ewf, img.size))  # type: ignore[attr-defined]
        assert got == disk.read_bytes()
        res = verify(img)
    assert res["ok"] is True and res["computed"] == {
        "md5": hashlib.md5(got).hexdigest(), "sha1": hashlib.sha1(got).hexdigest()}


def test_a_damaged_compressed_chunk_fails_verification(tmp_path: Path, disk: Path) -> None:
    e01 = ewf(disk, tmp_path / "d", "-c", "deflate:best")
    data = bytearray(e01.read_bytes())
    at = data.find(b"sectors") + 76 + 4096  # inside the first chunks' deflate streams
    data[at: at + 64] = bytes(64)
    e01.write_bytes(bytes(data))
    p = os.fsencode(e01)
    with open_readonly(p) as f, open_image(f, detect.EWF, p) as img:
        res = verify(img)
    assert res["ok"] is False and "does not inflate" in res["error"], res
    assert not res["computed"]


def test_a_chunk_that_inflates_past_the_chunk_size_is_refused() -> None:
    bomb = zlib.compress(bytes(64 << 20), 9)  # 64 MiB of zeros in about 64 KiB
    with pytest.raises(ewf_chunks.ChunkError, match="past the chunk size 32768"):
        ewf_chunks.inflate(bomb, 32768)
    assert ewf_chunks.inflate(zlib.compress(b"x" * 32768), 32768) == b"x" * 32768


@pytest.fixture(scope="module")
def e01s(tmp_path_factory: pytest.TempPathFactory, disk: Path) -> dict[str, Path]:
    """The disk as E01s in several segments, compressed and not."""
    root = tmp_path_factory.mktemp("e01s")
    return {c: ewf(disk, root / c.replace(":", "-"), "-c", c, "-S", "2MiB")
            for c in ("deflate:fast", "none")}


def _open(e01: Path) -> tuple[BinaryIO, DiskImage]:
    p = os.fsencode(e01)
    f = open_readonly(p)
    return f, open_image(f, detect.EWF, p)


@pytest.mark.parametrize("compression", ["deflate:fast", "none"])
def test_chunk_stream_reads_equal_the_disk(e01s: dict[str, Path], disk: Path,
                                           compression: str) -> None:
    """Any run of reads, at any offset and of any size (across chunk, table and segment
    boundaries, past the end, through read, readinto and read-all) gives the disk's bytes."""
    want = disk.read_bytes()
    f, img = _open(e01s[compression])
    with f, img:
        s = img.stream
        assert isinstance(s, ewf_chunks.ChunkStream) and img.size == len(want)
        cs = s.chunk_size
        assert len({fh for fh, _, _ in s._tables}) > 2  # several segments
        edges = sorted({k * cs for k in s._firsts} | {0, len(want)})

        def at_edge(i: int, d: int) -> int:
            return max(0, edges[i % len(edges)] + d)

        offsets = st.integers(0, len(want) + 100) | st.builds(
            lambda k, d: max(0, k * cs + d), st.integers(0, len(want) // cs + 1),
            st.integers(-40, 40)) | st.builds(at_edge, st.integers(0, 99),
                                              st.integers(-70_000, 70_000))
        sizes = st.integers(0, 3 * cs) | st.integers(0, 5 << 20) | st.just(-1)

        @settings(max_examples=150, deadline=None, derandomize=True)
        @given(st.lists(st.tuples(offsets, sizes, st.booleans()), min_size=1, max_size=6))
        def reads(ops: list[tuple[int, int, bool]]) -> None:
            for off, size, into in ops:
                assert s.seek(off) == off
                end = len(want) if size < 0 else off + size
                if into and size >= 0:
                    buf = bytearray(size)
                    got = bytes(buf[: s.readinto(buf)])
                else:
                    got = s.read(size)
                assert got == want[off:end], (off, size)
                assert s.tell() == max(off, min(end, len(want)))

        reads()
        s.seek(0)
        assert s.readall() == want


def _compressed_chunk(img: DiskImage, k: int) -> tuple[int, int]:
    """(file offset, stored size) of media chunk k of a one-segment E01, which must be
    stored compressed."""
    s = img.stream
    assert isinstance(s, ewf_chunks.ChunkStream)
    _, _, table, i = s._locate(k)
    offset, size, compressed = ewf_chunks.span(table, i)
    assert compressed
    return offset, size


@pytest.mark.parametrize("damage", ["garbled", "short"])
def test_a_damaged_chunk_is_an_error_naming_it(tmp_path: Path, disk: Path, damage: str) -> None:
    """A chunk that does not inflate, or inflates to fewer bytes than it stands for, is a
    ChunkError naming the chunk and where it lies; reads elsewhere go on; a scan makes it
    the error of a file that holds it (p2's ext4)."""
    e01 = ewf(disk, tmp_path / "d", "-c", "deflate:best")
    raw = disk.read_bytes()
    pic = (disk.parent / "Pictures" / "pic0.jpg").read_bytes()
    note = raw.find(pic, 10240 * 512)  # in p2's ext4
    k = note // 32768
    f, img = _open(e01)
    with f, img:
        offset, size = _compressed_chunk(img, k)
    data = bytearray(e01.read_bytes())
    if damage == "garbled":
        data[offset + 2: offset + size] = bytes(size - 2)
        why = "does not inflate"
    else:  # a whole zlib stream of 100 bytes, padded to the stored size
        short = zlib.compress(b"x" * 100)
        data[offset: offset + size] = short + bytes(size - len(short))
        why = "holds 100 bytes, not the 32768 of the media it stands for"
    e01.write_bytes(bytes(data))
    f, img = _open(e01)
    with f, img:
        s = img.stream
        s.seek(note)
        with pytest.raises(ewf_chunks.ChunkError) as err:
            s.read(12)
        assert f"EWF chunk {k} (segment 1, file offset {offset})" in str(err.value)
        assert why in str(err.value)
        s.seek((k + 1) * 32768)
        assert s.read(70_000) == raw[(k + 1) * 32768: (k + 1) * 32768 + 70_000]
    recs = records(e01)
    named = f"cannot read file: ChunkError: EWF chunk {k} (segment 1, file offset {offset})"
    assert [p for p, r in recs.items() if p.startswith("d.E01!/p2/")
            and any(named in e["message"] and why in e["message"] for e in r["errors"])]
    assert "verification FAILED" in str(recs["d.E01"]["errors"])
