"""Referral packages (issue 16 §4): one country's suspects as hashes and records (no pixels
in any file), VICS and STIX 2.1 restricted to their items and marked, RED withheld, the
custody extract, a manifest whose signature verifies and breaks on a 1-byte edit anywhere
(naming the file), the referral logged as an action; a country with no suspects refused."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.lists.formats.stix import TLP2
from inprocess import DB_URLS, database, run
from operation_fixtures import CASE, build_operation

# what pictures and videos start with (or hold near the start): any of these in a package
# would mean content travelled
MAGIC = [re.compile(rb"\xff\xd8\xff"), re.compile(rb"\x89PNG\r\n\x1a\n"),
         re.compile(rb"GIF8[79]a"), re.compile(rb"RIFF.{4}WEBP", re.S),
         re.compile(rb"ftyp(isom|iso2|mp4[12]|avif|avis|heic|heix|mif1|msf1|qt  |M4V |3gp)"),
         re.compile(rb"\x00\x00\x00\x0cjP  "), re.compile(rb"II\*\x00|MM\x00\*"),
         re.compile(rb"\x1aE\xdf\xa3")]
NL = {"S-PROD", "S-FP", "S-SINGLE"}


def pixels(data: bytes) -> list[str]:
    return [m.pattern.decode("latin-1") for m in MAGIC if m.search(data)]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def operation(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[Path, dict[str, Path]]]:
    for db in database(request.param):
        tmp = tmp_path_factory.mktemp("referral")
        home = tmp / "home"
        DB_URLS[home] = db
        exhibits = build_operation(tmp, home)
        yield home, exhibits
        DB_URLS.pop(home)


@pytest.fixture(scope="module")
def package(operation: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    home, _ = operation
    out = tmp_path_factory.mktemp("pkg") / "NL"
    run(home, "referral", "--case", CASE, "--country", "nl", "-o", out, "--agency",
        "Police-West")
    return out


def files(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}


def test_package_holds_the_countrys_suspects_as_records(
        operation: tuple[Path, dict], package: Path) -> None:
    home, exhibits = operation
    assert sorted(files(package)) == [
        "README.txt", "bundle.stix.json", "case.vics.json", "custody/README.txt",
        "custody/SHA256SUMS", "custody/custody.jsonl", "custody/verify_custody.py",
        "manifest.json", "summary.html", "summary.json"]  # unsigned: the examiner has no key
    s = json.loads((package / "summary.json").read_text())
    assert (s["country"], s["tlp"], s["referring_agency"]) == ("NL", "amber", "Police-West")
    assert {x["id"] for x in s["suspects"]} == NL
    assert {d["id"] for d in s["devices"]} == {"D-PROD", "D-FP", "D-SINGLE"}
    prod = next(x for x in s["suspects"] if x["id"] == "S-PROD")
    assert prod["identifiers"]["email"] == ["user-0101@example.test"]
    items = {(it["suspect"], it["path"]) for it in s["items"]}
    assert items == {("S-PROD", "gen-a.png"), ("S-PROD", "models/Lora/tide-style.safetensors"),
                     ("S-FP", "gen-b.png"), ("S-SINGLE", "k3.png")}
    k3 = next(it for it in s["items"] if it["path"] == "k3.png")
    assert [m["list"] for m in k3["known_material"]] == ["known-demo"]
    lora = next(it for it in s["items"] if it["path"].endswith(".safetensors"))
    gen = next(it for it in s["items"] if it["path"] == "gen-b.png")
    cited = {lo["hash"] for f in gen["provenance"] for lo in f.get("loras", [])}
    assert lora["provenance"][0]["short_hash"] in cited  # the private LoRA, as a hash
    assert all("prompt" not in f for it in s["items"] for f in it["provenance"])
    # the RED-listed picture is withheld from every file, and counted
    red = json.loads(run(home, "hash", exhibits["prod"] / "red.png", "--json"))
    assert s["withheld"]["items"] == 1 and s["withheld"]["by_tlp"] == {"red": 1}
    for name in ("summary.json", "summary.html", "case.vics.json", "bundle.stix.json",
                 "README.txt"):
        text = (package / name).read_text()
        assert red["sha256"] not in text and red["md5"] not in text, name
        assert "S-REPEAT" not in text and "S-NONE" not in text, name  # other country's
    # the referral is an action and a custody entry, inside the package's own extract
    acts = json.loads(run(home, "actions", "list", "--case", CASE, "--json"))
    ref = [a for a in acts if a["kind"] == "referral"]
    assert len(ref) == 1 and ref[0]["country"] == "NL" and set(ref[0]["suspects"]) == NL
    assert [a["kind"] for a in s["actions"]] == ["house-search", "referral"]
    log = [json.loads(x) for x in (package / "custody/custody.jsonl").read_text().splitlines()]
    written = [e for e in log if e["action"] == "referral.written"]
    assert written and written[0]["details"]["country"] == "NL"
    assert written[0]["details"]["withheld"] == 1
    check = subprocess.run([sys.executable, package / "custody/verify_custody.py",
                            package / "custody/custody.jsonl"], capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_html_defangs_and_masks(package: Path) -> None:
    html = (package / "summary.html").read_text()
    assert "user-0101[@]example[.]test" in html and "user-0101@example.test" not in html
    assert "*" * 14 + "6789" in html and "NL00TEST0123456789" not in html
    assert "TLP:AMBER" in html and "no image content" in html


def test_vics_and_stix_carry_their_items_marked(package: Path) -> None:
    vics = json.loads((package / "case.vics.json").read_text())
    media = vics["value"][0]["Media"]
    assert vics["value"][0]["CaseNumber"] == CASE
    assert [m["MediaFiles"][0]["FileName"] for m in media] == ["k3.png"]  # matched only
    bundle = json.loads((package / "bundle.stix.json").read_text())
    by_type: dict[str, list[dict]] = {}
    for o in bundle["objects"]:
        by_type.setdefault(o["type"], []).append(o)
    (org,) = by_type["identity"]
    assert org["name"] == "Police-West"
    assert len(by_type["indicator"]) == len(by_type["file"]) == 4
    assert {r["relationship_type"] for r in by_type["relationship"]} == {"based-on"}
    labels = sorted(tuple(i.get("labels", ())) for i in by_type["indicator"])
    assert labels == [("known-material",), ("model-file",), ("synthetic-provenance",),
                      ("synthetic-provenance",)]
    for o in by_type["indicator"] + by_type["file"] + by_type["relationship"]:
        assert o["object_marking_refs"] == [TLP2["amber"]], o["id"]
    assert all(i["created_by_ref"] == org["id"] for i in by_type["indicator"])


def test_no_file_in_the_package_holds_pixels(operation: tuple[Path, dict],
                                             package: Path) -> None:
    _, exhibits = operation
    assert pixels((exhibits["single"] / "k3.png").read_bytes())  # the check sees a picture
    for name, p in files(package).items():
        assert pixels(p.read_bytes()) == [], name


def test_unsigned_package_verifies_and_says_so(package: Path, tmp_path: Path,
                                               operation: tuple[Path, dict]) -> None:
    home, _ = operation
    manifest = json.loads((package / "manifest.json").read_text())
    assert manifest["signer"] is None and manifest["note"].startswith("UNSIGNED")
    assert {f["path"] for f in manifest["files"]} == set(files(package)) - {"manifest.json"}
    assert "intact: 9 files, UNSIGNED" in run(home, "referral", "verify", package)
    copy = shutil.copytree(package, tmp_path / "copy")
    (copy / "summary.json").write_bytes((copy / "summary.json").read_bytes().replace(
        b'"NL"', b'"DE"', 1))
    out = run(home, "referral", "verify", copy, ok=(1,))
    assert "summary.json: changed" in out and "BROKEN" in out


def test_country_without_suspects_is_refused(operation: tuple[Path, dict],
                                             tmp_path: Path) -> None:
    home, _ = operation
    before = json.loads(run(home, "actions", "list", "--case", CASE, "--json"))
    out = run(home, "referral", "create", "--case", CASE, "--country", "FR", "-o",
              tmp_path / "fr", ok=(2,))
    assert f"case '{CASE}' has no suspects in FR: nothing to refer" in out
    assert "(its suspects are in DK, NL)" in out
    assert not (tmp_path / "fr").exists()
    assert "did you mean GB?" in run(home, "referral", "--case", CASE, "--country", "UK",
                                     "-o", tmp_path / "uk", ok=(2,))
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    assert "not an empty folder" in run(home, "referral", "--case", CASE, "--country", "NL",
                                        "-o", tmp_path / "used", ok=(2,))
    assert "a referral needs --country" in run(home, "referral", "--case", CASE, "-o",
                                               tmp_path / "y", ok=(2,))
    assert json.loads(run(home, "actions", "list", "--case", CASE, "--json")) == before


@pytest.fixture
def signed(tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    """A package signed by examiner-02's key (a home of its own: a signed chain refuses
    unsigned writers afterwards)."""
    home = tmp_path / "home"
    DB_URLS[home] = None
    build_operation(tmp_path, home)
    key = json.loads(run(home, "keys", "create", "--examiner", "examiner-02", "--json"))
    out = tmp_path / "pkg"
    run(home, "referral", "create", "--case", CASE, "--country", "NL", "-o", out,
        examiner="examiner-02")
    yield home, out, key["public_key"]
    DB_URLS.pop(home)


def test_signature_verifies_and_any_one_byte_edit_breaks_it(
        signed: tuple[Path, Path, str], tmp_path: Path) -> None:
    home, pkg, public = signed
    manifest = json.loads((pkg / "manifest.json").read_text())
    assert manifest["signer"]["public_key"] == public
    assert "manifest.json.sig" in files(pkg)
    assert "signed by key" in run(home, "referral", "verify", pkg, "--key", public)
    raw = (pkg / "manifest.json").read_bytes()
    # The middle byte of every file, and in the manifest also each part of the signer entry
    # an edit could hit: its key names, its key id, the public key itself.
    edits = [(name, None) for name in sorted(files(pkg))] + [
        ("manifest.json", raw.index(word) + 2)
        for word in (b'"signer"', b'"public_key"', b'"key_id"', public.encode(),
                     b'"sha256"', b'"files"')]
    for i, (name, at) in enumerate(edits):
        copy = tmp_path / f"edit-{i}-{name.replace('/', '_')}"
        shutil.copytree(pkg, copy)
        data = bytearray((copy / name).read_bytes())
        data[len(data) // 2 if at is None else at] ^= 0x01
        (copy / name).write_bytes(bytes(data))
        res = json.loads(run(home, "referral", "verify", copy, "--json", ok=(1,)))
        assert not res["ok"] and any(p.startswith(name) for p in res["problems"]), (name, res)
        if name in ("manifest.json", "manifest.json.sig"):
            assert any("signature" in p or "not a manifest" in p for p in res["problems"])
        else:
            assert res["problems"] == [f"{name}: changed (its SHA-256 is not the manifest's)"]


def test_missing_added_and_wrong_key(signed: tuple[Path, Path, str], tmp_path: Path) -> None:
    home, pkg, _ = signed
    other = json.loads(run(home, "keys", "create", "--examiner", "someone-else", "--json"))
    out = run(home, "referral", "verify", pkg, "--key", other["public_key"], ok=(1,))
    assert "not the key given" in out
    copy = shutil.copytree(pkg, tmp_path / "copy")
    (copy / "case.vics.json").unlink()
    (copy / "extra.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    res = json.loads(run(home, "referral", "verify", copy, "--json", ok=(1,)))
    assert res["problems"] == ["case.vics.json: missing", "extra.png: added (not in the manifest)"]
    (copy / "manifest.json.sig").unlink()
    assert "manifest.json.sig: missing" in run(home, "referral", "verify", copy, ok=(1,))


@pytest.mark.parametrize("manifest", [
    b"", b"[]", b'{"files": 3}', b'{"files": ["x"]}', b'{"files": [], "signer": "me"}',
    b'{"files": [], "signer": {"public_key": 5}}', b"\xff\xfe{",
    b'{"files": [{"path": "a", "sha256": null}], "signer": {"public_key": "!!"}}'])
def test_a_damaged_manifest_is_a_finding_not_a_crash(tmp_path: Path, manifest: bytes) -> None:
    from cairn.cases.referral import verify

    (tmp_path / "manifest.json").write_bytes(manifest)
    (tmp_path / "manifest.json.sig").write_text("AAAA\n")
    res = verify(tmp_path)
    assert not res["ok"] and res["problems"]
