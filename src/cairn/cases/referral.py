"""Referral packages (issue 16 §4): what one partner country needs to act on its suspects,
as hashes and records, never content.

A package is a folder:
- summary.json / summary.html: the suspects (identifiers as recorded in the JSON, for tools;
  defanged and masked in the HTML, for people), their devices and actions, the items that
  matched known material, carry a synthetic-provenance claim or are model files (hashes,
  sizes, paths, matches, provenance fingerprints: never pixels, never prompts), the content
  families they hold, and the strong fingerprint links between their exhibits;
- case.vics.json: the VICS case export (exchange/case_export.py) of those items;
- bundle.stix.json: STIX 2.1: an Identity for the referring agency, per item an Indicator, a
  File and their Relationship, every object TLP-marked (lists/formats/stix.py);
- custody/: the case's custody chain as JSON Lines with its stand-alone verifier
  (cases/custody.py `export`);
- README.txt: what each file is and how to check the package;
- manifest.json: every file with its SHA-256 and size; manifest.json.sig: an Ed25519
  signature of manifest.json's bytes by the examiner's key (store/custody.py), when they
  have one. Without a key the manifest says so: it then proves integrity against accident,
  not against someone rewriting the whole folder.

One TLP marks the package (default AMBER). Items whose matched list entries are marked
stricter (an entry's own marking or its list's) are withheld from every file, and the
summary counts them: RED never widens. The referral is logged before anything is written
(an `actions` row of kind `referral` and a `referral.written` entry), so the package's own
custody extract records it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from cairn import __version__
from cairn.cases import custody
from cairn.cases.defang import defang
from cairn.cases.people import PeopleError, check_country, is_synthetic
from cairn.cases.report import TEMPLATES, active, build
from cairn.exchange.case_export import exact_pdq, fast_pdq_note, write_case_vics
from cairn.lists.formats import markings
from cairn.lists.formats.stix import write_stix
from cairn.store import Store
from cairn.store.people import People

FORMAT = "cairn-referral/1"
MANIFEST, SIGNATURE = "manifest.json", "manifest.json.sig"
SUMMARY_JSON, SUMMARY_HTML = "summary.json", "summary.html"
VICS, STIX, CUSTODY_DIR = "case.vics.json", "bundle.stix.json", "custody"
README = "README.txt"
# the fields of a generator finding that fingerprint a tool or model; never the prompt
FINGERPRINT_FIELDS = ("generator", "version", "model", "model_hash", "vae", "vae_hash",
                      "loras", "resources", "stealth", "account", "user", "sampler")
MODEL_FIELDS = ("format", "size", "sha256", "autov2", "autov1", "blake3", "short_hash",
                "tensor_sha256")


class ReferralError(ValueError):
    """A referral refused (no suspects in that country, an unknown case, a folder in use),
    or a package that does not verify; the message says which and why."""


def create(store: Store, case: str, country: str, out_dir: Path, tlp: str = "amber",
           agency: str | None = None, date: str | None = None) -> dict[str, Any]:
    """Write the referral package of `case`'s suspects in `country` to `out_dir` (absent or
    empty) and log it. Returns what was written."""
    country = check_country(country)
    level = markings.level(tlp)
    if level is None:
        raise ReferralError(f"TLP {tlp!r}: one of {', '.join(markings.LEVELS)}")
    case_id = store.cases.id(case)
    if case_id is None:
        raise ReferralError(f"no case named {case!r}")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ReferralError(f"{out_dir} exists and is not an empty folder: a package is "
                            "written whole into a new one")
    people = People(store)
    suspects = [s for s in people.suspects(case_id) if s["country"] == country]
    if not suspects:
        held = sorted({s["country"] for s in people.suspects(case_id) if s["country"]})
        raise ReferralError(f"case {case!r} has no suspects in {country}: nothing to refer"
                            + (f" (its suspects are in {', '.join(held)})" if held
                               else " (its suspects have no country: `cairn suspects edit "
                               "ID --country CC`)"))
    keys = {s["id"] for s in suspects}
    devices = [d for d in people.devices(case_id) if d["suspect"] in keys]
    owner = {src: (d["id"], d["suspect"]) for d in devices for src in d["sources"]}
    rep = build(store, case, with_trace=True)
    withheld: list[markings.Withheld] = []
    items = [it for it in rep["items"] if it["source"] in owner and _relevant(it)
             and _within(it, level, withheld)]
    agency = agency or f"examiner {store.actor.examiner}"
    date = date or datetime.now(UTC).date().isoformat()

    try:  # logged first: the package's custody extract then holds its own referral
        action = people.add_action(
            case_id, kind="referral", date=date, country=country, suspects=sorted(keys),
            devices=[d["id"] for d in devices], agency=agency,
            notes=f"referral package: {len(items)} item(s), TLP:{level.upper()}")
    except PeopleError as e:
        raise ReferralError(str(e)) from None
    store.log_event(case_id, "referral.written", f"referral:{country}",
                    {"country": country, "suspects": sorted(keys), "items": len(items),
                     "withheld": len(withheld), "tlp": level, "action": action["id"],
                     "directory": str(out_dir.resolve()), "tool_version": __version__})

    out_dir.mkdir(parents=True, exist_ok=True)
    # only exact PDQ is shared (no file here says how a hash was computed): pictures with
    # only a fast one go without it in every file, counted in the summary and the result
    fast = sorted({it["sha256"] for it in items if it.get("pdq") and exact_pdq(it) is None})
    summary = _summary(rep, case, country, level, agency, suspects, devices, owner, items,
                       withheld, [a for a in people.actions(case_id)
                                  if keys & set(a["suspects"])], fast)
    (out_dir / SUMMARY_JSON).write_text(json.dumps(summary, indent=2, ensure_ascii=False)
                                        + "\n", encoding="utf-8")
    (out_dir / SUMMARY_HTML).write_text(_html(summary), encoding="utf-8")
    with (out_dir / VICS).open("w", encoding="utf-8") as f:
        write_case_vics({"case": case, "items": items}, f, tlp=level)
    with (out_dir / STIX).open("w", encoding="utf-8") as f:
        write_stix(_stix_entries(items), f, agency, level)
    chain = custody.export(store, case_id, case, out_dir / CUSTODY_DIR)
    (out_dir / README).write_text(_readme(case, country, level, summary), encoding="utf-8")
    manifest = _manifest(out_dir, case, country, level, store)
    return {"case": case, "country": country, "directory": str(out_dir), "tlp": level,
            "suspects": sorted(keys), "items": len(items), "withheld": len(withheld),
            "withheld_note": _withheld_note(withheld, level), "action": action["id"],
            "custody_head": {"seq": chain["head_seq"], "hash": chain["head_hash"]},
            "signed": manifest["signer"] is not None, "files": len(manifest["files"]),
            **({"fast_pdq_left_out": len(fast), "fast_pdq_note": fast_pdq_note(len(fast), case)}
               if fast else {})}


def _relevant(it: dict) -> bool:
    """What a package carries: items matching known material, claiming synthetic
    provenance, or model files (a production indicator)."""
    return bool(active(it)) or any(is_synthetic(f) or f.get("kind") == "model_file"
                                   for f in it["findings"])


def _within(it: dict, tlp: str, withheld: list[markings.Withheld]) -> bool:
    own = markings.strictest(x for m in active(it)
                             for x in (m["entry"].get("tlp"), m["entry"].get("list_tlp")))
    if markings.stricter(own, tlp):
        withheld.append(markings.Withheld("sha256", it["sha256"] or "", own or "red", tlp))
        return False
    return True


def _fingerprints(it: dict) -> list[dict]:
    out = []
    for f in it["findings"]:
        if f.get("kind") == "model_file":
            out.append({"kind": "model_file", **{k: f[k] for k in MODEL_FIELDS if f.get(k)}})
        elif is_synthetic(f):
            out.append({"kind": f.get("kind"), "strength": f.get("strength"),
                        **{k: f[k] for k in FINGERPRINT_FIELDS if f.get(k) not in (None, [], {})},
                        **({"digital_source_types": f["digital_source_types"]}
                           if f.get("digital_source_types") else {}),
                        **({"claim_generator": f["claim_generator"]}
                           if f.get("claim_generator") else {})})
    return out


def _summary(rep: dict, case: str, country: str, tlp: str, agency: str, suspects: list[dict],
             devices: list[dict], owner: dict[str, tuple[str, str]], items: list[dict],
             withheld: list[markings.Withheld], actions: list[dict],
             fast: list[str]) -> dict[str, Any]:
    shas = {it["sha256"] for it in items if it["sha256"]}
    hidden = {w.value for w in withheld}
    out_items = [{
        "sha256": it["sha256"], "md5": it["md5"], "sha1": it["sha1"], "size": it["size"],
        "media_type": it["media_type"], "kind": it["kind"],
        "pdq": (exact_pdq(it) or {}).get("hash"), "source": it["source"], "path": it["path"],
        "device": owner[it["source"]][0], "suspect": owner[it["source"]][1],
        "known_material": [{"list": m["list"], "signal": m["signal"], "distance": m["distance"],
                            "category": m["entry"].get("category")} for m in active(it)],
        "provenance": _fingerprints(it)} for it in items]
    families = []
    for fam in rep["trace"]["families"]:
        # a family's members on these suspects' exhibits: content they hold in several
        # copies or versions, or share with others (whether it matched or not)
        mine = [m for m in fam["members"] if m.get("source") in owner]
        if not mine or fam["size"] < 2 or any(_member_sha(m) in hidden
                                               for m in fam["members"]):
            continue
        families.append({"family": fam["id"], "size": fam["size"],
                         "sha256": sorted({sha for m in mine if (sha := _member_sha(m))}),
                         "sources": sorted(s for s in fam["sources"] if s in owner),
                         "held_elsewhere": any(s not in owner for s in fam["sources"])})
    links = [{"type": lk["type"], "key": lk["key"],
              "sources": sorted(s for s in lk["sources"] if s in owner)}
             for lk in rep["trace"]["links"]
             if lk["strength"] == "strong" and sum(s in owner for s in lk["sources"]) > 0
             and _link_shas(lk) & shas]
    counts: dict[str, int] = {}
    for w in withheld:
        counts[w.tlp] = counts.get(w.tlp, 0) + 1
    return {
        "format": FORMAT, "tool": f"cairn {__version__}", "case": case, "country": country,
        "tlp": tlp, "referring_agency": agency,
        "notice": "Hashes and records only: this package contains no image content. "
                  "Identifiers are as recorded (summary.html shows them defanged).",
        "suspects": [{k: s[k] for k in ("id", "aliases", "country", "agency", "status",
                                        "identifiers", "devices")} for s in suspects],
        "devices": [{k: v for k, v in d.items() if k not in ("source_ids", "created_at")}
                    for d in devices],
        "actions": [{k: v for k, v in a.items() if k != "created_at"} for a in actions],
        "items": out_items,
        "counts": {"items": len(out_items),
                   "known_material": sum(1 for it in out_items if it["known_material"]),
                   "with_provenance": sum(1 for it in out_items if it["provenance"]),
                   "families": len(families)},
        "families": families, "fingerprint_links": links,
        "withheld": {"items": len(withheld), "by_tlp": counts,
                     "why": _withheld_note(withheld, tlp) or None},
        **({"fast_pdq_left_out": {"items": len(fast), "sha256": fast,
                                  "why": fast_pdq_note(len(fast), case)}} if fast else {}),
    }


def _readme(case: str, country: str, tlp: str, summary: dict) -> str:
    """What the receiving agency reads first: what each file is and how to check them."""
    lines = [
        f"TLP:{tlp.upper()}. Referral of case {case!r} to {country}, by "
        f"{summary['referring_agency']}, written by {summary['tool']}.",
        "",
        "Hashes and records only: no file here holds image or video content.",
        "",
        f"{SUMMARY_HTML}  the suspects, devices, actions, items and families, for reading",
        "              (identifiers defanged, payment identifiers masked)",
        f"{SUMMARY_JSON}  the same as data, identifiers as recorded",
        f"{VICS}  Project VIC VICS: the items that matched known material",
        f"{STIX}  STIX 2.1: Identity of the referring agency, Indicator, File and",
        "              Relationship per item, every object TLP-marked",
        f"{CUSTODY_DIR}/       the case's chain of custody, with its stand-alone verifier",
        f"              (python3 {CUSTODY_DIR}/verify_custody.py {CUSTODY_DIR}/custody.jsonl)",
        f"{MANIFEST}  every other file's SHA-256; {SIGNATURE}, when present, an",
        "              Ed25519 signature of the manifest's bytes by the key it names",
        "",
        "Check the package: `cairn referral verify DIR [--key PUBLIC_KEY]` (exit 0: intact;",
        "1: the changed, missing or added file, or a bad signature is named). Confirm the",
        "signer's public key with the referring examiner out of band before relying on it.",
    ]
    if summary["withheld"]["items"]:
        lines += ["", f"Withheld: {summary['withheld']['why']}."]
    if summary.get("fast_pdq_left_out"):
        lines += ["", f"PDQ left out: {summary['fast_pdq_left_out']['why']}."]
    return "\n".join(lines) + "\n"


def _withheld_note(withheld: list[markings.Withheld], tlp: str) -> str:
    if not withheld:
        return ""
    counts: dict[str, int] = {}
    for w in withheld:
        counts[w.tlp] = counts.get(w.tlp, 0) + 1
    by = ", ".join(f"{n} TLP:{lv.upper()}" for lv, n in sorted(
        counts.items(), key=lambda x: markings.RANK.get(x[0], len(markings.LEVELS))))
    return (f"{len(withheld)} item(s) withheld from every file: their matched list entries "
            f"are marked stricter than the package's TLP:{tlp.upper()} ({by}); a package "
            "marked --tlp at their level would carry them")


def _member_sha(m: dict) -> str | None:
    """A family member's SHA-256 (members are {source, path, sha256, distance, via})."""
    return m.get("sha256")


def _link_shas(lk: dict) -> set[str]:
    return {x["sha256"] for x in lk.get("items") or [] if isinstance(x, dict)
            and x.get("sha256")}


def _stix_entries(items: list[dict]) -> Iterable[dict]:
    """Items as the export rows write_stix reads: one group (Media) per item's content."""
    seen: set[str] = set()
    for it in items:
        if not it["sha256"] or it["sha256"] in seen:
            continue
        seen.add(it["sha256"])
        labels = (["known-material"] if active(it) else []) + (
            ["synthetic-provenance"] if any(is_synthetic(f) for f in it["findings"]) else []) + (
            ["model-file"] if any(f.get("kind") == "model_file" for f in it["findings"]) else [])
        cats = sorted({str(m["entry"]["category"]) for m in active(it)
                       if m["entry"].get("category") is not None})
        for st in ("md5", "sha1", "sha256"):
            if it.get(st):
                yield {"signal_type": st, "value": it[st], "labels": labels,
                       "category": cats[0] if cats else None,
                       "attrs": {"group": it["sha256"]}}
        if pdq := exact_pdq(it):  # a fast one is left out (counted in the summary)
            yield {"signal_type": "pdq", "value": pdq["hash"], "labels": labels,
                   "attrs": {"group": it["sha256"], "pdq_quality": pdq["quality"]}}


def _html(summary: dict) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      keep_trailing_newline=True)
    env.filters["defang"] = lambda v, kind: defang(kind, str(v))
    return env.get_template("referral.html").render(r=summary)


# -- the manifest ------------------------------------------------------------------------------
def _files(out_dir: Path) -> dict[str, Path]:
    """Every file of a package but the manifest and its signature, by relative path."""
    return {p.relative_to(out_dir).as_posix(): p for p in sorted(out_dir.rglob("*"))
            if (p.is_file() or p.is_symlink())
            and p.relative_to(out_dir).as_posix() not in (MANIFEST, SIGNATURE)}


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _manifest(out_dir: Path, case: str, country: str, tlp: str, store: Store) -> dict:
    signer = store.actor.signer
    manifest = {
        "format": FORMAT, "tool": f"cairn {__version__}", "case": case, "country": country,
        "tlp": tlp, "examiner": store.actor.examiner,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": [{"path": rel, "sha256": _sha256(p), "size": p.stat().st_size}
                  for rel, p in _files(out_dir).items()],
        "signer": {"key_id": signer.key_id, "public_key": signer.public_key,
                   "algorithm": "Ed25519", "signature_file": SIGNATURE} if signer else None,
        "note": (f"{SIGNATURE} is an Ed25519 signature of this file's bytes by the key "
                 "above; check the key with the examiner out of band" if signer else
                 f"UNSIGNED: examiner {store.actor.examiner!r} has no key (`cairn keys "
                 "create`); the hashes show accidental damage, not deliberate rewriting"),
    }
    raw = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    (out_dir / MANIFEST).write_bytes(raw)
    if signer:
        (out_dir / SIGNATURE).write_text(signer.sign(raw) + "\n", encoding="ascii")
    return manifest


def verify(out_dir: Path, key: str | None = None) -> dict[str, Any]:
    """Check a package: every listed file present with its hash, nothing added, and the
    manifest's signature (by `key`, base64 of an Ed25519 public key, when pinned). Returns
    {"ok", "problems", "signed", "key_id", "files"}; never raises on a damaged package."""
    problems: list[str] = []
    try:
        raw = (out_dir / MANIFEST).read_bytes()
        manifest = json.loads(raw)
        listed = {f["path"]: f for f in manifest["files"]}
    except FileNotFoundError:
        return {"ok": False, "problems": [f"{MANIFEST} is missing"], "signed": False,
                "key_id": None, "files": 0}
    except (OSError, ValueError, KeyError, TypeError) as e:
        return {"ok": False, "problems": [f"{MANIFEST} is not a manifest: {e}"],
                "signed": False, "key_id": None, "files": 0}
    present = _files(out_dir) if out_dir.is_dir() else {}
    for rel, entry in listed.items():
        p = present.get(rel)
        if p is None:
            problems.append(f"{rel}: missing")
        elif p.is_symlink() or _sha256(p) != entry.get("sha256"):
            problems.append(f"{rel}: changed (its SHA-256 is not the manifest's)")
    problems += [f"{rel}: added (not in the manifest)" for rel in present if rel not in listed]
    signer = manifest.get("signer") if isinstance(manifest, dict) else None
    sig_path = out_dir / SIGNATURE
    if signer is not None and not (isinstance(signer, dict)
                                   and isinstance(signer.get("public_key"), str)):
        problems.append(f"{MANIFEST}: its signer is not a key (no public_key), so its "
                        "signature cannot be checked")
        signer = {"key_id": None}
    elif signer:
        problems += _check_signature(raw, signer, sig_path, key)
    elif sig_path.exists():
        problems.append(f"{SIGNATURE}: a signature is present, but the manifest names no "
                        "signer (its signer entry was removed or damaged)")
    elif key:
        problems.append(f"{MANIFEST}: unsigned, but a key was given to check it with")
    return {"ok": not problems, "problems": problems, "signed": bool(signer),
            "key_id": (signer or {}).get("key_id"), "files": len(listed),
            "note": manifest.get("note")}


def _check_signature(raw: bytes, signer: dict, sig_path: Path, key: str | None) -> list[str]:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    public = str(signer.get("public_key"))
    if key and key.strip() != public:
        return [f"{MANIFEST}: signed by key {signer.get('key_id')}, not the key given"]
    try:
        sig = base64.b64decode(sig_path.read_text(encoding="ascii").strip(), validate=True)
    except FileNotFoundError:
        return [f"{SIGNATURE}: missing (the manifest says it is signed)"]
    except (OSError, ValueError) as e:
        return [f"{SIGNATURE}: unreadable, so no signature to check: {e}"]
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public)).verify(sig, raw)
    except (InvalidSignature, ValueError, TypeError):
        return [f"{SIGNATURE}: bad signature: {MANIFEST} is not what key "
                f"{signer.get('key_id')} signed"]
    return []
