"""Generator fingerprints: items linked by what made them, each link typed and weighed.

Keys read from provenance findings: model, LoRA, embedding and VAE hashes (or names), Civitai
AIR URNs (the exact version, and the model across versions), checkpoint name, seed with
prompt, an account the metadata names, C2PA signer and claim generator, signature key, the
stealth carrier, watermark. Pictures and videos alike: a signed MP4 links to a JPEG its signer
also signed. A key's weight is its type's strength times its rarity: a hash of a private
fine-tune that two exhibits share is a strong lead; a public base model that many of the
case's sources used says little. Rarity =
1 / (sources sharing the key - 1), at most 1: two sources 1, three 0.5, four 0.33; a weight
of 0.5 or more is `strong`, below `weak`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cairn.signals.crypto import bare_ref

TYPE_STRENGTH = {"model_hash": 1.0, "lora_hash": 1.0, "embedding_hash": 1.0, "air": 1.0,
                 "resource_hash": 0.8, "seed_prompt": 0.8, "account": 0.8, "c2pa_signer": 0.6,
                 "signature_key": 0.6, "vae_hash": 0.5, "air_model": 0.5, "checkpoint": 0.5,
                 "lora": 0.4, "c2pa_generator": 0.3, "stealth": 0.2, "watermark": 0.2}
# a resource's hash is linked under the key its type shares with A1111's own fields
_HASH_KEY = {"checkpoint": "model_hash", "model": "model_hash", "lora": "lora_hash",
             "lycoris": "lora_hash", "locon": "lora_hash", "dora": "lora_hash",
             "embedding": "embedding_hash", "textualinversion": "embedding_hash",
             "vae": "vae_hash"}


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
            if f.get("vae_hash"):
                keys.add(("vae_hash", bare_ref(str(f["vae_hash"]))))
            keys |= _resource_keys(f.get("resources"))
            account = f.get("account") or f.get("user")
            if account:
                keys.add(("account", f"{f['generator']}:{account}"))
            stealth = f.get("stealth")
            if isinstance(stealth, dict) and stealth.get("signature"):
                keys.add(("stealth", f"{stealth['signature']}/{stealth.get('channel')}"))
        elif kind == "c2pa" and f.get("state") in ("trusted", "valid"):
            s = f.get("signer") or {}
            if s.get("common_name"):
                keys.add(("c2pa_signer", f"{s.get('issuer', '')}/{s['common_name']}"))
            if f.get("claim_generator"):
                keys.add(("c2pa_generator", str(f["claim_generator"])))
        elif kind == "signature" and f.get("valid"):
            keys.add(("signature_key", str(f.get("signer"))))
        elif kind == "watermark":
            keys.add(("watermark", str(f.get("mark"))))
    return keys


def _resource_keys(resources: object) -> set[tuple[str, str]]:
    """Keys of a finding's `resources` (generators/base.py): a hash under its type's key, an
    AIR URN exactly (`urn:air:sdxl:lora:civitai:328553@368189`) and, without its version,
    as the model every version of which it is (a weaker lead: a LoRA re-released)."""
    keys: set[tuple[str, str]] = set()
    if not isinstance(resources, list):
        return keys
    for r in resources:
        if not isinstance(r, dict):
            continue
        if r.get("hash"):
            typ = str(r.get("type") or "").lower().replace(" ", "")
            keys.add((_HASH_KEY.get(typ, "resource_hash"), bare_ref(str(r["hash"]))))
        air = r.get("air")
        if isinstance(air, str) and air:
            keys.add(("air", air))
            model = air.split("@", 1)[0]
            if model != air:
                keys.add(("air_model", model))
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
    refs += [x.get("hash") for x in f.get("resources") or [] if isinstance(x, dict)]
    return [r for r in refs if isinstance(r, str) and r]


def link_model_files(items: Sequence[Mapping[str, Any]]) -> None:
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
