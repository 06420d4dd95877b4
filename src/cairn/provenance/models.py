"""Model files (Stable Diffusion checkpoints, LoRAs): the hashes generator metadata refers to.

- AutoV2: SHA-256 of the whole file, first 10 hex (A1111's `Model hash`)
- AutoV1: SHA-256 of the 64 KiB at 1 MiB, first 8 hex (A1111 before 2023)
- tensor SHA-256 (safetensors): of the bytes after the 8 + N byte header, so it survives
  edits of the header's metadata; its first 12 hex are A1111's LoRA short hash unless the
  header's `sshs_model_hash` gives one
- BLAKE3 of the whole file (InvokeAI's `blake3_multi:`)
One pass over the file for all of them.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import asdict, dataclass, field
from typing import BinaryIO

import blake3

AUTOV1_AT, AUTOV1_LEN = 0x100000, 0x10000
MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header
CHUNK = 4 * 1024 * 1024


class ModelFileError(ValueError):
    pass


@dataclass
class ModelHashes:
    format: str  # safetensors | checkpoint
    size: int
    sha256: str
    autov2: str
    autov1: str | None
    blake3: str
    tensor_sha256: str | None = None
    short_hash: str | None = None  # what A1111 writes for a LoRA (12 hex)
    metadata: dict = field(default_factory=dict)  # safetensors __metadata__ (training info)
    note: str | None = None  # what of the header could not be read (the hashes stand)

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if v not in (None, {}, "")}
        d["cited_as"] = sorted(keys_of(d))  # every form metadata may cite it by: for linking
        return d


def safetensors_header(head: bytes) -> int | None:
    """Header length if `head` (>= 9 bytes) starts like a safetensors file."""
    if len(head) < 9:
        return None
    (n,) = struct.unpack("<Q", head[:8])
    return n if 2 <= n <= MAX_HEADER and head[8:9] == b"{" else None


def hash_model(f: BinaryIO, fmt: str | None = None) -> ModelHashes:
    f.seek(0)
    head = f.read(8)
    n = safetensors_header(head + f.read(1))
    f.seek(0)
    metadata: dict = {}
    note = None
    if n is not None:
        f.seek(8)
        header_bytes = f.read(n)
        if len(header_bytes) < n:
            raise ModelFileError(f"safetensors header says {n} bytes; the file is shorter")
        metadata, note = _header_metadata(header_bytes)
        f.seek(0)
    full, tensors, b3 = hashlib.sha256(), hashlib.sha256(), blake3.blake3()
    autov1 = hashlib.sha256()
    pos, data_at = 0, (8 + n) if n is not None else None
    while chunk := f.read(CHUNK):
        full.update(chunk)
        b3.update(chunk)
        end = pos + len(chunk)
        if data_at is not None and end > data_at:
            tensors.update(chunk[max(0, data_at - pos):])
        lo, hi = max(pos, AUTOV1_AT), min(end, AUTOV1_AT + AUTOV1_LEN)
        if lo < hi:
            autov1.update(chunk[lo - pos:hi - pos])
        pos = end
    sha = full.hexdigest()
    tensor_sha = tensors.hexdigest() if n is not None else None
    short = (metadata.get("sshs_model_hash") or tensor_sha or sha)[:12].lower()
    return ModelHashes(format=fmt or ("safetensors" if n is not None else "checkpoint"),
                       size=pos, sha256=sha, autov2=sha[:10],
                       autov1=autov1.hexdigest()[:8] if pos > AUTOV1_AT else None,
                       blake3=b3.hexdigest(), tensor_sha256=tensor_sha, short_hash=short,
                       metadata=metadata, note=note)


def _header_metadata(header_bytes: bytes) -> tuple[dict, str | None]:
    """The safetensors header's `__metadata__` (a JSON object of strings, by the format's
    spec) as {str: str}, and a note naming what was wrong with it. The header is evidence:
    nesting deep enough to exhaust the parser, or `__metadata__` a list or a string, is a
    note on the hashes, never an exception."""
    try:
        header = json.loads(header_bytes)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFileError(f"safetensors header is not JSON: {e}") from None
    except RecursionError:
        return {}, "safetensors header: JSON nested too deeply to parse; metadata not read"
    if not isinstance(header, dict):
        return {}, f"safetensors header is a JSON {type(header).__name__}, not an object"
    meta = header.get("__metadata__")
    if meta is None:
        return {}, None
    if not isinstance(meta, dict):
        return {}, (f"safetensors header: __metadata__ is a JSON {type(meta).__name__}, not "
                    "an object of strings; not read")
    out, skipped = {}, 0
    for k, v in meta.items():
        if isinstance(v, str | int | float | bool):
            out[str(k)[:200]] = str(v)[:2000]
        else:
            skipped += 1  # nested values are not the spec's, and may be deep
    return out, (f"safetensors header: {skipped} __metadata__ value(s) nested; skipped"
                 if skipped else None)


def keys_of(h: dict) -> set[str]:
    """Every form a generator's metadata may cite this model by (lower-case hex)."""
    keys = {h.get("autov2"), h.get("autov1"), h.get("sha256"), h.get("short_hash"),
            h.get("blake3"), (h.get("sha256") or "")[:12], (h.get("tensor_sha256") or "")[:12],
            h.get("tensor_sha256")}
    return {k.lower() for k in keys if k}
