"""Generator fingerprints: items linked by what made them, each link typed and weighed.

Keys read from provenance findings: model hash, LoRA hash (or name), checkpoint name, seed
with prompt, C2PA signer, signature key, watermark. A key's weight is its type's strength
times its rarity: a hash of a private fine-tune that two exhibits share is a strong lead; a
public base model that many of the case's sources used says little. Rarity =
1 / (sources sharing the key - 1), at most 1: two sources 1, three 0.5, four 0.33; a weight
of 0.5 or more is `strong`, below `weak`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cairn.signals.crypto import bare_ref

TYPE_STRENGTH = {"model_hash": 1.0, "lora_hash": 1.0, "seed_prompt": 0.8, "c2pa_signer": 0.6,
                 "signature_key": 0.6, "checkpoint": 0.5, "lora": 0.4, "watermark": 0.2}


@dataclass
class Link:
    type: str
    key: str
    items: list[dict]  # {source, path, sha256}
    sources: list[str]
    weight: float

    @property
    def strength(self) -> str:
        return "strong" if self.weight >= 0.5 else "weak"

    def to_dict(self) -> dict:
        return {"type": self.type, "key": self.key, "weight": round(self.weight, 3),
                "strength": self.strength, "sources": self.sources, "items": self.items}


def keys_of(findings: list[dict]) -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    for f in findings:
        kind = f.get("kind")
        if kind == "generator" and f.get("generator"):
            if f.get("model_hash"):
                keys.add(("model_hash", bare_ref(str(f["model_hash"]))))
            if f.get("model"):
                keys.add(("checkpoint", str(f["model"])))
            for lo in f.get("loras") or []:
                if isinstance(lo, dict) and lo.get("hash"):
                    keys.add(("lora_hash", bare_ref(str(lo["hash"]))))
                elif isinstance(lo, dict) and lo.get("name"):
                    keys.add(("lora", str(lo["name"])))
            if f.get("seed") is not None and f.get("prompt"):
                keys.add(("seed_prompt", f"{f['seed']}|{f['prompt']}"))
        elif kind == "c2pa" and f.get("state") in ("trusted", "valid"):
            s = f.get("signer") or {}
            if s.get("common_name"):
                keys.add(("c2pa_signer", f"{s.get('issuer', '')}/{s['common_name']}"))
        elif kind == "signature" and f.get("valid"):
            keys.add(("signature_key", str(f.get("signer"))))
        elif kind == "watermark":
            keys.add(("watermark", str(f.get("mark"))))
    return keys


def links(items: list[dict]) -> list[Link]:
    """Every key two or more items share, strongest first."""
    holders: dict[tuple[str, str], list[dict]] = {}
    for it in items:
        for k in keys_of(it.get("findings") or []):
            holders.setdefault(k, []).append(it)
    out = []
    for (typ, key), its in holders.items():
        if len(its) < 2:
            continue
        sources = sorted({it["source"] for it in its})
        rarity = min(1.0, 1.0 / max(len(sources) - 1, 1))
        out.append(Link(typ, key, [{"source": it["source"], "path": it["path"],
                                    "sha256": it["sha256"]} for it in
                                   sorted(its, key=lambda x: (x["source"], x["path"]))],
                        sources, TYPE_STRENGTH[typ] * rarity))
    out.sort(key=lambda x: (-x.weight, -len(x.sources), x.type, x.key))
    return out


def cited_refs(f: dict) -> list[str]:
    """The model, VAE and LoRA hashes a generator finding cites, as written."""
    refs = [f.get("model_hash"), f.get("vae_hash")]
    refs += [x.get("hash") for x in f.get("loras") or [] if isinstance(x, dict)]
    return [r for r in refs if isinstance(r, str) and r]


def link_model_files(items: list[dict]) -> None:
    """Seized model files linked to the images that cite them: a generator finding whose
    model, VAE or LoRA hash is one of a model file's hashes (as the scan recorded them in
    `cited_as`) gains `model_files` {cited hash: [source/path of the file]}."""
    by_key: dict[str, list[str]] = {}
    for it in items:
        for f in it["findings"]:
            if f["kind"] == "model_file":
                for k in f.get("cited_as") or []:
                    by_key.setdefault(k, []).append(f"{it['source']}/{it['path']}")
    if not by_key:
        return
    for it in items:
        for f in it["findings"]:
            if f["kind"] == "generator":
                found = {r: sorted(by_key[bare_ref(r)]) for r in cited_refs(f)
                         if bare_ref(r) in by_key}
                if found:
                    f["model_files"] = found
