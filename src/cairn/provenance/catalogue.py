"""A user-supplied catalogue of known models: resolve the hashes generator metadata cites.

CSV with a header; columns (case-insensitive, any order, blanks allowed): `name`, `autov1`,
`autov2`, `sha256`, `blake3`, optionally `tensor_sha256`, `kind` (checkpoint, lora, vae...),
`notes`. A reference resolves when it equals one of an entry's hashes, or is a prefix of at
least 8 hex of its SHA-256 or tensor SHA-256 (A1111 cites 10 or 12 hex).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from cairn.signals.crypto import bare_ref

COLUMNS = ("name", "autov1", "autov2", "sha256", "blake3", "tensor_sha256", "kind", "notes")


class CatalogueError(ValueError):
    pass


@dataclass(frozen=True)
class Model:
    name: str
    kind: str | None
    hashes: tuple[str, ...]
    line: int


class Catalogue:
    def __init__(self, models: list[Model]) -> None:
        self.models = models
        self._exact: dict[str, Model] = {}
        self._prefix: list[tuple[str, Model]] = []
        for m in models:
            for h in m.hashes:
                self._exact.setdefault(h, m)
                if len(h) == 64:
                    self._prefix.append((h, m))

    @classmethod
    def read(cls, path: str | Path) -> Catalogue:
        text = Path(path).read_text(encoding="utf-8-sig")
        reader = csv.DictReader(io.StringIO(text))
        fields = {(f or "").strip().lower() for f in reader.fieldnames or []}
        if "name" not in fields or not fields & {"autov1", "autov2", "sha256", "blake3"}:
            raise CatalogueError(f"{path}: header needs `name` and a hash column "
                                 f"(autov1, autov2, sha256, blake3); got {sorted(fields)}")
        models = []
        for i, row in enumerate(reader, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            hashes = tuple(bare_ref(row[c]) for c in COLUMNS[1:6] if row.get(c))
            bad = [h for h in hashes if not all(ch in "0123456789abcdef" for ch in h)]
            if not row.get("name") or not hashes or bad:
                raise CatalogueError(f"{path}:{i}: needs a name and hex hashes")
            models.append(Model(row["name"], row.get("kind") or None, hashes, i))
        return cls(models)

    def resolve(self, ref: str | None) -> Model | None:
        if not ref:
            return None
        h = bare_ref(ref)
        if h in self._exact:
            return self._exact[h]
        if len(h) >= 8:
            for full, m in self._prefix:
                if full.startswith(h):
                    return m
        return None


def annotate(findings: list[dict], catalogue: Catalogue) -> None:
    """Add `known_models` {cited hash: catalogue name} to generator findings that cite a
    model, VAE or LoRA the catalogue knows."""
    for f in findings:
        if f.get("kind") != "generator":
            continue
        refs = [f.get("model_hash"), f.get("vae_hash")]
        refs += [x.get("hash") for x in f.get("loras") or [] if isinstance(x, dict)]
        known = {}
        for ref in refs:
            m = catalogue.resolve(ref) if isinstance(ref, str) else None
            if m:
                known[ref] = m.name + (f" ({m.kind})" if m.kind else "")
        if known:
            f["known_models"] = known
