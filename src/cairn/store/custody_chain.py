"""The chain of custody's canonical form and its verification, in the Python standard library
alone (plus `cryptography` for signatures, when present).

Why stand-alone: this file's source is what `cairn custody export` ships beside the log, so a
defence expert verifies the chain with nothing of Cairn's (`python3 verify_custody.py
custody.jsonl`); Cairn's own `custody verify` runs the same code, so the two cannot disagree.

An entry's canonical form is the JSON of its fields {action, case, chain, details, examiner,
host, prev, seq, subject, time}, keys sorted, no whitespace, UTF-8. Its `hash` is the SHA-256
of that form; `prev` is the hash of the entry before it in its chain (64 zeros for the first);
`seq` counts from 1. A signed entry carries `key_id` and `signature`, an Ed25519 signature of
the canonical form by a key that a `key.registered` entry earlier in the same chain published
(or that the verifier pins). What a check catches, and reports for the first entry it breaks:
- `changed`: an entry's content no longer has its hash;
- `missing`: entries deleted (a gap in `seq`, or the first entries absent);
- `reordered`: entries out of their written order;
- `inserted`: an entry that does not follow the one before it (a duplicate `seq`, or a `prev`
  that is not its predecessor's hash);
- `bad signature`: a signature that does not verify, an unknown key, or an unsigned entry
  after the chain's first signed one.
Deleting the newest entries leaves a shorter chain that is still whole: compare the head
(`seq`, `hash`) with the one a report or an earlier export printed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

GENESIS = "0" * 64
FIELDS = ("action", "case", "chain", "details", "examiner", "host", "prev", "seq", "subject",
          "time")


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The bytes an entry's hash and signature are of."""
    return json.dumps({k: entry[k] for k in FIELDS}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def canonical_details(details: Any) -> str:
    """Details as stored: canonical JSON text."""
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def key_id_of(public_key_b64: str) -> str:
    """A key's id: the first 32 hex of the SHA-256 of its raw 32 bytes."""
    return hashlib.sha256(base64.b64decode(public_key_b64)).hexdigest()[:32]


def _verify_signature(public_key_b64: str, signature_b64: str, message: bytes) -> bool | None:
    """True/False, or None when `cryptography` is not installed."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return None
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
        key.verify(base64.b64decode(signature_b64), message)
        return True
    except (InvalidSignature, ValueError):
        return False


def _problem(entry: Mapping[str, Any], kind: str, why: str) -> dict[str, Any]:
    return {"chain": entry.get("chain"), "seq": entry.get("seq"), "kind": kind, "why": why}


def verify_chain(rows: Iterable[Mapping[str, Any]],
                 pinned: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Check every chain in `rows` (entries as stored, in the order they were written).
    Returns {"ok", "chains": {chain: {"entries", "head_seq", "head_hash", "signed"}},
    "problem": the first broken entry or None, "notes": [...]}. `pinned`: {key_id: base64
    public key} the verifier trusts beyond those the chain registers."""
    by_chain: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        by_chain.setdefault(str(r.get("chain")), []).append(r)
    out: dict[str, Any] = {"ok": True, "chains": {}, "problem": None, "notes": []}
    for chain, entries in by_chain.items():
        summary, problem, notes = _verify_one(entries, dict(pinned or {}))
        out["chains"][chain] = summary
        out["notes"] += notes
        if problem and out["ok"]:
            out["ok"], out["problem"] = False, problem
    return out


def _verify_one(entries: list[Mapping[str, Any]], keys: dict[str, str]
                ) -> tuple[dict[str, Any], dict[str, Any] | None, list[str]]:
    notes: list[str] = []
    seqs = [e.get("seq") for e in entries]
    prev: Mapping[str, Any] | None = None
    signed_from: int | None = None
    problem = None
    unchecked = 0
    for i, e in enumerate(entries):
        try:
            actual = entry_hash(e)
        except (KeyError, TypeError, ValueError) as err:
            problem = _problem(e, "changed", f"entry is not well formed: {err}")
            break
        if actual != e.get("hash"):
            problem = _problem(e, "changed", "its content does not match its hash "
                               f"(stored {str(e.get('hash'))[:16]}…, content {actual[:16]}…)")
            break
        expected = 1 if prev is None else int(prev["seq"]) + 1
        seq = int(e["seq"])
        if seq != expected:
            if prev is not None and seq <= int(prev["seq"]):
                kind = "inserted" if seqs.count(seq) > 1 else "reordered"
                problem = _problem(e, kind, f"entry {seq} comes after entry {prev['seq']}"
                                   + (f"; another entry also has number {seq}"
                                      if kind == "inserted" else ""))
            elif any(s == expected for s in seqs[i + 1:]):
                problem = _problem(e, "reordered", f"entry {seq} comes before entry {expected}")
            else:
                problem = _problem(e, "missing", f"entries {expected}..{seq - 1} are missing")
            break
        want_prev = GENESIS if prev is None else prev["hash"]
        if e.get("prev") != want_prev:
            problem = _problem(e, "inserted", f"its prev is not the hash of entry "
                               f"{expected - 1}: it was not written after it")
            break
        if e.get("action") == "key.registered" and isinstance(e.get("details"), dict):
            pk = str(e["details"].get("public_key", ""))
            try:
                keys.setdefault(key_id_of(pk), pk)
            except ValueError:
                problem = _problem(e, "bad signature", "registers a key that is not base64")
                break
        if e.get("signature"):
            signed_from = seq if signed_from is None else signed_from
            signer = keys.get(str(e.get("key_id")))
            if signer is None:
                problem = _problem(e, "bad signature", f"signed by key {e.get('key_id')}, "
                                   "which no earlier entry registered")
                break
            ok = _verify_signature(signer, str(e["signature"]), canonical(e))
            if ok is False:
                problem = _problem(e, "bad signature", f"the signature by key {e['key_id']} "
                                   "does not verify")
                break
            if ok is None:
                unchecked += 1
        elif signed_from is not None:
            problem = _problem(e, "bad signature", f"unsigned, after entries signed since "
                               f"entry {signed_from}")
            break
        prev = e
    if unchecked:
        notes.append(f"{unchecked} signature(s) not checked: the `cryptography` package is "
                     "not installed")
    head = prev if problem is None else None
    summary = {"entries": len(entries), "signed": signed_from is not None,
               "head_seq": head["seq"] if head else None,
               "head_hash": head["hash"] if head else None}
    return summary, problem, notes


def read_jsonl(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv: list[str] | None = None) -> int:
    """`python3 verify_custody.py custody.jsonl [--key KEY_ID=BASE64 ...]`: exit 0 when every
    chain is whole, 1 naming the first broken entry, 2 on a usage error."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(main.__doc__)
        return 2
    pinned = {}
    path = args.pop(0)
    while args:
        flag = args.pop(0)
        if flag != "--key" or not args or "=" not in args[0]:
            print(f"unknown argument {flag!r}", file=sys.stderr)
            return 2
        kid, _, pk = args.pop(0).partition("=")
        pinned[kid] = pk
    result = verify_chain(read_jsonl(path), pinned)
    for chain, s in result["chains"].items():
        print(f"{chain}: {s['entries']} entries, head {s['head_seq']} {s['head_hash']}"
              + (", signed" if s["signed"] else ""))
    for note in result["notes"]:
        print(f"note: {note}")
    if result["ok"]:
        print("intact")
        return 0
    p = result["problem"]
    print(f"BROKEN: {p['chain']} entry {p['seq']}: {p['kind']}: {p['why']}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
