"""The chain of custody as an examiner and a defence expert use it: show, verify, export.

The log is written by the store (store/custody.py), one entry per change in the change's own
transaction; its canonical form and checks are in store/custody_chain.py, whose source the
export ships as `verify_custody.py`, so verifying needs nothing of Cairn's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cairn import __version__
from cairn.store import custody_chain
from cairn.store.custody import case_chain
from cairn.store.custody_chain import verify_chain
from cairn.store.store import Store

EXPORT_LOG = "custody.jsonl"
EXPORT_SCRIPT = "verify_custody.py"


def verify(store: Store, case_id: int | None = None) -> dict[str, Any]:
    """Every chain (or one case's) checked; {"ok", "chains", "problem", "notes"}."""
    return verify_chain(store.custody_entries(case_id))


def head(store: Store, case_id: int) -> dict[str, Any] | None:
    """The newest entry of a case's chain as reports print it: {seq, hash, time}."""
    entries = store.custody_entries(case_id)
    if not entries:
        return None
    e = entries[-1]
    return {"seq": e["seq"], "hash": e["hash"], "time": e["time"]}


def export(store: Store, case_id: int, case_name: str, out_dir: Path) -> dict[str, Any]:
    """Write a case's chain as JSON Lines with the stand-alone verifier and a README. The
    export is itself logged first, so the exported chain ends with the entry recording it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    store.log_event(case_id, "custody.exported", f"case:{case_name}",
                    {"directory": str(out_dir.resolve()), "tool_version": __version__})
    entries = store.custody_entries(case_id)
    check = verify_chain(entries)
    log = out_dir / EXPORT_LOG
    with log.open("w", encoding="utf-8") as f:
        for e in entries:
            f.write(json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n")
    script = out_dir / EXPORT_SCRIPT
    script.write_text(Path(custody_chain.__file__).read_text(encoding="utf-8"),
                      encoding="utf-8")
    summary = check["chains"].get(case_chain(case_id), {})
    keys = sorted({(e["examiner"], e["details"]["key_id"], e["details"]["public_key"])
                   for e in entries if e["action"] == "key.registered"
                   and isinstance(e["details"], dict)})
    readme = out_dir / "README.txt"
    readme.write_text(_readme(case_name, summary, keys), encoding="utf-8")
    sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (log, script, readme)}
    (out_dir / "SHA256SUMS").write_text("".join(f"{h}  {n}\n" for n, h in sums.items()),
                                        encoding="utf-8")
    return {"case": case_name, "directory": str(out_dir), "entries": len(entries),
            "intact": check["ok"], "problem": check["problem"],
            "head_seq": summary.get("head_seq"), "head_hash": summary.get("head_hash"),
            "files": sums}


def _readme(case: str, summary: dict, keys: list[tuple[str, str, str]]) -> str:
    lines = [
        f"Chain of custody of case {case!r}, exported by Cairn {__version__}.",
        "",
        f"{EXPORT_LOG}: one entry per line, in the order written. Each entry's `hash` is the",
        "SHA-256 of its canonical form (the JSON of action, case, chain, details, examiner,",
        "host, prev, seq, subject, time; keys sorted, no whitespace, UTF-8); `prev` is the",
        "hash of the entry before it (64 zeros for the first). Signed entries carry an",
        "Ed25519 signature of the canonical form by the key a `key.registered` entry",
        "published earlier in the chain.",
        "",
        "Verify with the Python standard library (and the `cryptography` package for",
        "signatures):",
        f"    python3 {EXPORT_SCRIPT} {EXPORT_LOG}",
        "Exit 0: intact. Exit 1: the first broken entry is named (changed, missing,",
        "reordered, inserted, bad signature).",
        "",
        f"Head of the chain: entry {summary.get('head_seq')}, hash {summary.get('head_hash')}.",
        "A chain cut short after this export is still whole: compare its head with this one.",
    ]
    if keys:
        lines += ["", "Examiners' signing keys (check them with the examiner, out of band):"]
        lines += [f"    {ex}: key {kid} = {pk}" for ex, kid, pk in keys]
        lines += [f"Pin one with: python3 {EXPORT_SCRIPT} {EXPORT_LOG} --key KEY_ID=PUBLIC_KEY"]
    return "\n".join(lines) + "\n"
