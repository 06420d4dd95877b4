"""Every registered list reader passes the same checks: on bytes that are not a list it either
refuses the file with ListFormatError or yields nothing and records the bad entries by position;
no other exception escapes, and nothing is yielded that is not a normalised value of a known
type. (Each format's own content is tested in test_formats*.py; this holds the registry to one
contract, so a new reader is held to it the day it is registered.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.lists.formats import ListFormatError
from cairn.lists.formats.base import normalise
from cairn.lists.formats.readers import FORMATS, READERS, open_list
from cairn.signals import types

SEEDS = [b"", b"\x00" * 64, b"{", b'{"type": "bundle", "objects": [{"type": 1}]}',
         b"signal_type,signal_str\npdq,zz\n", b"pdq 123\n", b"SQLite format 3\x00" + b"\x00" * 200,
         "\ufeff# only a comment\n".encode(), b"\xff\xfe\x00\x00garbage"]


def _read(path: Path, fmt: str) -> tuple[list, list]:
    try:
        _, stream, rejected = open_list(path, fmt, "md5" if fmt in ("plain", "hashsum") else None)
        return list(stream), rejected
    except ListFormatError:
        return [], []


def test_registry_is_what_the_cli_offers() -> None:
    assert set(FORMATS) == set(READERS) == {"te-csv", "te-local", "hashsum", "plain", "vics",
                                            "stix", "misp", "nsrl"}
    assert FORMATS[-1] == "plain"  # the fallback is asked last


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("data", SEEDS)
def test_garbage_is_refused_or_rejected(tmp_path: Path, fmt: str, data: bytes) -> None:
    p = tmp_path / "list.bin"
    p.write_bytes(data)
    entries, rejected = _read(p, fmt)
    for e in entries:
        assert e.signal_type in types.REGISTRY
        assert normalise(e.signal_type, e.value) == e.value
    for r in rejected:
        assert isinstance(r.line, int) and r.reason


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400), fmt=st.sampled_from(("auto", *FORMATS)))
def test_random_bytes_never_escape(tmp_path: Path, data: bytes, fmt: str) -> None:
    p = tmp_path / "random.bin"
    p.write_bytes(data)
    _read(p, fmt)


def test_auto_detection_asks_each_reader(tmp_path: Path) -> None:
    md5 = "d41d8cd98f00b204e9800998ecf8427e"
    cases = {"te-local": f"md5 {md5}\n", "hashsum": f"{md5}  a.jpg\n",
             "te-csv": f"signal_type,signal_str,collab,category,tags\nmd5,{md5},,,\n"}
    for fmt, text in cases.items():
        p = tmp_path / f"{fmt}.txt"
        p.write_text(text)
        used, stream, _ = open_list(p)
        assert used == fmt and [e.value for e in stream] == [md5]
    p = tmp_path / "other.json"
    p.write_text('{"hello": 1}')
    with pytest.raises(ListFormatError, match="not VICS, a STIX bundle or a MISP"):
        open_list(p)
