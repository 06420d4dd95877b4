"""C2PA content credentials, read and validated with c2pa-python, offline.

The SDK fetches remote manifests by default: that is switched off (content and even the
fact of looking must not leave the machine), as is OCSP. Validation states:
- `trusted`: the signature and hashes verify and the signer's chain ends at an anchor the
  examiner configured (a PEM bundle, e.g. the C2PA trust list);
- `valid`: signature and hashes verify, the signer is not (or cannot be) trusted here;
- `invalid`: something was changed after signing; the failing checks are named.
"""

from __future__ import annotations

import io
import json
from functools import lru_cache
from typing import Any, BinaryIO

import c2pa

from cairn.provenance.finding import Finding
from cairn.provenance.xmp import DST_PREFIX, SYNTHETIC

STATES = {"Trusted": "trusted", "Valid": "valid", "Invalid": "invalid"}


@lru_cache(maxsize=8)
def _context(trust_pem: str | None) -> c2pa.Context:
    verify = {"remote_manifest_fetch": False, "ocsp_fetch": False,
              "verify_trust": trust_pem is not None}
    settings: dict[str, Any] = {"verify": verify}
    if trust_pem is not None:
        settings["trust"] = {"trust_anchors": trust_pem}  # replaces any built-in anchors
    return c2pa.Context.from_dict(settings)


def might_have_c2pa(data: bytes) -> bool:
    """Cheap pre-check before the SDK parses the file: the JUMBF label is plain bytes."""
    return b"c2pa" in data


def _code(dst: str | None) -> str | None:
    if not dst:
        return None
    return dst[len(DST_PREFIX):] if dst.startswith(DST_PREFIX) else dst


def _actions(manifest: dict) -> list[dict]:
    out = []
    for a in manifest.get("assertions") or []:
        if not str(a.get("label", "")).startswith("c2pa.actions"):
            continue
        for act in (a.get("data") or {}).get("actions") or []:
            agent = act.get("softwareAgent")
            if isinstance(agent, dict):
                agent = " ".join(str(agent.get(k)) for k in ("name", "version") if agent.get(k))
            out.append({"action": act.get("action"),
                        "digital_source_type": _code(act.get("digitalSourceType")),
                        "software_agent": agent, "when": act.get("when")})
    return out


def _generator(manifest: dict) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info:
        first = info[0]
        return " ".join(str(first.get(k)) for k in ("name", "version") if first.get(k)) or None
    return manifest.get("claim_generator")


def read_c2pa(source: bytes | BinaryIO, media_type: str, trust_pem: str | None = None,
              xmp: bytes | None = None) -> list[Finding]:
    """The C2PA finding of a file given as bytes (a picture already in memory) or as a
    seekable stream (a video: the SDK reads the boxes it needs). `xmp`: the file's XMP packet
    as containers/media_tags read it."""
    if isinstance(source, bytes | bytearray):
        if not might_have_c2pa(source):
            return []
        stream: BinaryIO = io.BytesIO(source)
    else:
        stream = source
        stream.seek(0)
    try:
        reader = c2pa.Reader.try_create(media_type, stream, context=_context(trust_pem))
    except c2pa.C2paError as e:
        return [Finding("c2pa", "declared", "c2pa", {"state": "invalid"},
                        error=f"C2PA store unreadable: {e}")]
    except Exception as e:  # noqa: BLE001 - the native SDK must not stop a scan
        return [Finding("c2pa", "declared", "c2pa", {"state": "invalid"},
                        error=f"C2PA reader failed: {type(e).__name__}: {e}")]
    if reader is None:
        return []
    with reader:
        store = json.loads(reader.json())
        state = STATES.get(str(reader.get_validation_state()), "invalid")
    active = store.get("active_manifest")
    manifests = store.get("manifests") or {}
    manifest = manifests.get(active) or {}
    sig = manifest.get("signature_info") or {}
    actions = _actions(manifest)
    dsts = sorted({a["digital_source_type"] for a in actions if a["digital_source_type"]})
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    failures = [{"code": f.get("code"), "explanation": f.get("explanation")}
                for f in results.get("failure") or []]
    ingredients = [{"title": i.get("title"), "format": i.get("format"),
                    "relationship": i.get("relationship"),
                    "manifest": i.get("active_manifest")}
                   for i in manifest.get("ingredients") or []]
    data_out = {
        "state": state, "claim_generator": _generator(manifest), "title": manifest.get("title"),
        "signer": {"issuer": sig.get("issuer"), "common_name": sig.get("common_name"),
                   "serial": sig.get("cert_serial_number"), "alg": sig.get("alg"),
                   "time": sig.get("time")},
        "actions": actions, "digital_source_types": dsts,
        "synthetic": any(d in SYNTHETIC for d in dsts), "ingredients": ingredients,
        "manifests": len(manifests), "failures": failures,
    }
    data_out["signer"] = {k: v for k, v in data_out["signer"].items() if v}
    strength = "cryptographic" if state in ("trusted", "valid") else "declared"
    error = None
    if state == "invalid":
        error = "C2PA validation failed: " + ("; ".join(
            f"{f['code']}: {f['explanation']}" for f in failures[:5]) or "no detail given")
    return [Finding("c2pa", strength, "c2pa", data_out, error)]
