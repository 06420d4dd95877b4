"""C2PA content credentials, read and validated with c2pa-python, offline.

The SDK fetches remote manifests by default: that is switched off (content and even the
fact of looking must not leave the machine), as is OCSP. Validation states:
- `trusted`: the signature and hashes verify and the signer's chain ends at an anchor the
  examiner configured (a PEM bundle, e.g. the C2PA trust list);
- `valid`: signature and hashes verify, the signer is not (or cannot be) trusted here;
- `invalid`: something was changed after signing; the failing checks are named;
- `remote`: the file only points at its manifest (an external manifest: its URL in XMP
  `dcterms:provenance`); it is never fetched, so nothing is validated: the URL is reported.

Which files: the media types c2pa-python reads (`sdk_media_type`); for any other the SDK is
not called (it would only say "type is unsupported").
"""

from __future__ import annotations

import io
import json
import re
from functools import lru_cache
from typing import Any, BinaryIO
from xml.etree.ElementTree import ParseError

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from cairn.provenance.finding import Finding
from cairn.provenance.xmp import DST_PREFIX, SYNTHETIC, values

STATES = {"Trusted": "trusted", "Valid": "valid", "Invalid": "invalid"}
DCTERMS = "http://purl.org/dc/terms/"
MAX_URL = 2048  # characters of a remote manifest's URL kept in a finding
# ours (media/sniff) -> the SDK's name where they differ: 3GPP is ISO BMFF, which the SDK
# reads as MP4 but does not list
SDK_ALIASES = {"video/3gpp": "video/mp4"}
# the URL as the SDK quotes it, printable ASCII only: it is the evidence's text, printed later
_REMOTE_ERROR = re.compile(r"remote manifests? from url ([\x21-\x7e]+)", re.IGNORECASE)
_URL = re.compile(r"https?://[\x21-\x7e]+\Z", re.IGNORECASE)


class TrustError(ValueError):
    """A trust-anchor bundle that is not one: the examiner's configuration, not evidence."""


def trust_anchors(text: str) -> str:
    """The examiner's PEM bundle checked and normalised: every certificate in it must parse
    (a damaged one makes the SDK fail each file's validation instead: "COSE error parsing
    certificate"); comments and other text between them are dropped."""
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise TrustError("no PEM certificate in it")
    try:
        certs = x509.load_pem_x509_certificates(text.encode("ascii", "replace"))
    except ValueError as e:
        raise TrustError(f"a certificate in it is unreadable: {e}") from None
    return "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in certs)


@lru_cache(maxsize=1)
def _sdk_types() -> frozenset[str]:
    return frozenset(c2pa.Reader.get_supported_mime_types())


def sdk_media_type(media_type: str) -> str | None:
    """The media type to hand the SDK for one of ours, None when the SDK reads no such file."""
    mt = SDK_ALIASES.get(media_type, media_type)
    return mt if mt in _sdk_types() else None


@lru_cache(maxsize=8)
def _context(trust_pem: str | None) -> c2pa.Context:
    verify = {"remote_manifest_fetch": False, "ocsp_fetch": False,
              "verify_trust": trust_pem is not None}
    settings: dict[str, Any] = {"verify": verify}
    if trust_pem is not None:
        settings["trust"] = {"trust_anchors": trust_pem}  # replaces any built-in anchors
    return c2pa.Context.from_dict(settings)


def might_have_c2pa(data: bytes) -> bool:
    """Cheap pre-check before the SDK parses the file: the JUMBF label is plain bytes, and a
    file that only references a remote manifest still names `dcterms:provenance`."""
    return b"c2pa" in data or b"provenance" in data


def remote_reference(xmp: bytes | None) -> str | None:
    """The URL of a remote manifest an XMP packet declares (`dcterms:provenance`), if any:
    only an http(s) URL counts, as Dublin Core also allows free text there."""
    if not xmp or b"provenance" not in xmp:
        return None
    try:
        root = SafeET.fromstring(xmp.strip(b"\0 \r\n\t"))
    except (ParseError, DefusedXmlException, ValueError):
        return None  # the XMP reader reports the damage
    for value in values(root, DCTERMS, "provenance"):
        if len(value) <= MAX_URL and _URL.match(value):
            return value
    return None


def _remote_in_error(e: Exception) -> str | None:
    """The URL in the SDK's refusal to read a remote-only file without fetching it."""
    m = _REMOTE_ERROR.search(str(e))
    return m.group(1)[:MAX_URL] if m else None


def _remote(url: str) -> Finding:
    return Finding("c2pa", "declared", "c2pa", {"state": "remote", "remote_manifest": url},
                   error=f"remote manifest at {url}: not fetched, not validated")


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
    as containers/media_tags read it, for a remote manifest's URL."""
    url = remote_reference(xmp)
    if isinstance(source, bytes | bytearray):
        if url is None and not might_have_c2pa(source):
            return []
        stream: BinaryIO = io.BytesIO(source)
    else:
        stream = source
        stream.seek(0)
    sdk_type = sdk_media_type(media_type)
    if sdk_type is None:
        return [_remote(url)] if url else []
    try:
        reader = c2pa.Reader.try_create(sdk_type, stream, context=_context(trust_pem))
    except c2pa.C2paError as e:
        remote = _remote_in_error(e) or (url if "remote" in str(e).lower() else None)
        if remote:  # the SDK would have to fetch it: it is not allowed to
            return [_remote(remote)]
        return [Finding("c2pa", "declared", "c2pa", {"state": "invalid", "remote_manifest": url},
                        error=f"C2PA store unreadable: {e}")]
    except Exception as e:  # noqa: BLE001 - the native SDK must not stop a scan
        return [Finding("c2pa", "declared", "c2pa", {"state": "invalid", "remote_manifest": url},
                        error=f"C2PA reader failed: {type(e).__name__}: {e}")]
    if reader is None:
        return [_remote(url)] if url else []
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
    data_out: dict[str, Any] = {
        "state": state, "claim_generator": _generator(manifest), "title": manifest.get("title"),
        "signer": {"issuer": sig.get("issuer"), "common_name": sig.get("common_name"),
                   "serial": sig.get("cert_serial_number"), "alg": sig.get("alg"),
                   "time": sig.get("time")},
        "actions": actions, "digital_source_types": dsts,
        "synthetic": any(d in SYNTHETIC for d in dsts), "ingredients": ingredients,
        "manifests": len(manifests), "failures": failures,
        "remote_manifest": url,  # declared beside the embedded store: noted, never fetched
    }
    data_out["signer"] = {k: v for k, v in data_out["signer"].items() if v}
    strength = "cryptographic" if state in ("trusted", "valid") else "declared"
    error = None
    if state == "invalid":
        error = "C2PA validation failed: " + ("; ".join(
            f"{f['code']}: {f['explanation']}" for f in failures[:5]) or "no detail given")
    return [Finding("c2pa", strength, "c2pa", data_out, error)]
