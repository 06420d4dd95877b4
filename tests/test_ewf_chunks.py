"""An E01's media read chunk by chunk from its tables (the verify pass): the same bytes as
the disk ewfacquire acquired, compressed or not, across segments; a damaged compressed chunk
makes verification fail, naming the chunk."""

from __future__ import annotations

import hashlib
import os
import zlib
from pathlib import Path

import pytest

from cairn.media.disk import detect, ewf_chunks
from cairn.media.disk.images import open_image, open_readonly, verify
from test_disk_images import ewf, gpt_disk, make_tree


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
