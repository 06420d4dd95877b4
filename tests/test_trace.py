"""Tracing a case of generated exhibits: content families (exact copies, edits, dihedral
variants, a video showing a picture), generator-fingerprint links weighed by rarity, the
GraphML graph read back by networkx, and the timeline's order with where its times came
from."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import networkx as nx
import pytest
from PIL import Image

from cairn import demo_provenance as dp
from cairn.demo import jpeg_bytes, picture, slideshow_video
from conftest import Cairn

PRIVATE_MODEL, PUBLIC_MODEL, PRIVATE_LORA = "abc1234567", "6ce0161689", "0123456789ab"
DAY = 86_400
T0 = 1_700_000_000  # 2023-11-14


def generated(seed: int, model_hash: str, lora: str | None = None, s: int = 42) -> bytes:
    params = (f"a quiet harbour at night\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, "
              f"CFG scale: 7, Seed: {s}, Size: 320x240, Model hash: {model_hash}, "
              f"Model: m-{model_hash[:4]}"
              + (f', Lora hashes: "style: {lora}"' if lora else "") + ", Version: v1.10.1")
    return dp.png(picture(seed, (320, 240)), {"parameters": params})


def touch(p: Path, t: float) -> None:
    os.utime(p, (t, t))


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    tmp = tmp_path_factory.mktemp("trace")
    a, b, c = picture(901, (480, 360)), picture(902, (480, 360)), picture(903, (480, 360))
    ex = {n: tmp / n for n in ("phone-1", "laptop-2", "server-3", "tablet-4")}
    for d in ex.values():
        d.mkdir()
    a_bytes = jpeg_bytes(a)
    # phone-1: picture A, B, a video showing C, a picture from a private fine-tune + LoRA
    (ex["phone-1"] / "A.jpg").write_bytes(a_bytes)
    (ex["phone-1"] / "B.jpg").write_bytes(jpeg_bytes(b))
    slideshow_video(ex["phone-1"] / "clip.mp4", [(picture(904), 1.0), (c, 2.0)])
    (ex["phone-1"] / "gen1.png").write_bytes(generated(910, PRIVATE_MODEL, PRIVATE_LORA))
    # laptop-2: the same bytes of A (older), A rotated, B resized, C as PNG, the same set-up
    (ex["laptop-2"] / "copy-of-A.jpg").write_bytes(a_bytes)
    (ex["laptop-2"] / "A-rotated.jpg").write_bytes(jpeg_bytes(a.rotate(90, expand=True)))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2018:01:02 03:04:05"  # the camera says when it was taken
    small = io.BytesIO()
    b.resize((240, 180)).save(small, "JPEG", quality=90, exif=exif)
    (ex["laptop-2"] / "B-small.jpg").write_bytes(small.getvalue())
    (ex["laptop-2"] / "C.png").write_bytes(dp.png(c))
    (ex["laptop-2"] / "gen2.png").write_bytes(generated(911, PRIVATE_MODEL, PRIVATE_LORA,
                                                        s=7))
    # every exhibit has a picture from the widely shared public base model
    for k, d in enumerate(ex.values()):
        (d / f"public-{k}.png").write_bytes(generated(920 + k, PUBLIC_MODEL))
    # server-3: an archive holding copies of B and C, stored with an old date
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, img in (("old/B.jpg", b), ("old/C.jpg", c)):
            z.writestr(zipfile.ZipInfo(name, date_time=(2019, 5, 1, 12, 0, 0)),
                       jpeg_bytes(img))
    (ex["server-3"] / "backup.zip").write_bytes(buf.getvalue())
    touch(ex["phone-1"] / "A.jpg", T0 + 10 * DAY)
    touch(ex["laptop-2"] / "copy-of-A.jpg", T0)
    cairn = Cairn(tmp / "home")
    for name, d in ex.items():
        cairn.run("scan", d, "--case", "op", "--new-case", "--source-name", name, "--no-progress")
    res = cairn.json("trace", "--case", "op", "--graphml", tmp / "g.graphml", "--graph-json",
                     tmp / "g.json", "--timeline-svg", tmp / "t.svg")
    (tmp / "report.html").write_text(cairn.run("report", "--case", "op", "--format",
                                               "html").stdout)
    return res, tmp


def _family_of(res: dict, source: str, path: str) -> dict:
    (f,) = [f for f in res["families"]
            if any(m["source"] == source and m["path"] == path for m in f["members"])]
    return f


def _members(f: dict) -> dict[tuple[str, str], dict]:
    return {(m["source"], m["path"]): m for m in f["members"]}


def test_families(traced) -> None:  # noqa: ANN001
    res, _ = traced
    fa = _members(_family_of(res, "phone-1", "A.jpg"))
    assert set(fa) == {("phone-1", "A.jpg"), ("laptop-2", "copy-of-A.jpg"),
                       ("laptop-2", "A-rotated.jpg")}
    rotated = fa[("laptop-2", "A-rotated.jpg")]
    assert rotated["via"].startswith("pdq ") and rotated["distance"] <= 31  # a dihedral match
    assert {fa[("phone-1", "A.jpg")]["via"], fa[("laptop-2", "copy-of-A.jpg")]["via"]} == {
        "representative", "same bytes"}
    fb = _family_of(res, "phone-1", "B.jpg")
    assert set(_members(fb)) == {("phone-1", "B.jpg"), ("laptop-2", "B-small.jpg"),
                                 ("server-3", "backup.zip!/old/B.jpg")}
    assert fb["sources"] == ["laptop-2", "phone-1", "server-3"]
    fc = _members(_family_of(res, "laptop-2", "C.png"))
    assert set(fc) == {("laptop-2", "C.png"), ("phone-1", "clip.mp4"),
                       ("server-3", "backup.zip!/old/C.jpg")}
    assert fc[("phone-1", "clip.mp4")]["via"].startswith("video frame at ")
    # unrelated pictures are in no family
    assert not any(m["path"].startswith("public-") for f in res["families"]
                   for m in f["members"])


def test_fingerprint_links_weighed_by_rarity(traced) -> None:  # noqa: ANN001
    res, _ = traced
    by = {(lk["type"], lk["key"]): lk for lk in res["links"]}
    private = by[("model_hash", PRIVATE_MODEL)]
    assert private["strength"] == "strong" and private["sources"] == ["laptop-2", "phone-1"]
    assert by[("lora_hash", PRIVATE_LORA)]["strength"] == "strong"
    public = by[("model_hash", PUBLIC_MODEL)]
    assert public["strength"] == "weak" and len(public["sources"]) == 4
    assert public["weight"] < private["weight"]
    assert res["links"][0]["weight"] >= res["links"][-1]["weight"]  # strongest first
    top = [r["source"] for r in res["sources"][:2]]
    assert set(top) == {"phone-1", "laptop-2"}  # they share the most


def test_graph_exports_read_back(traced) -> None:  # noqa: ANN001
    res, tmp = traced
    g = nx.read_graphml(tmp / "g.graphml")
    kinds = {d["kind"] for _, d in g.nodes(data=True)}
    assert kinds == {"item", "source", "family", "fingerprint"}
    assert g.has_edge("item:phone-1/A.jpg", "source:phone-1")
    edge_types = {d["type"] for _, _, d in g.edges(data=True)}
    assert {"found_on", "member", "model_hash", "lora_hash"} <= edge_types
    fam_nodes = [n for n, d in g.nodes(data=True) if d["kind"] == "family"]
    assert len(fam_nodes) == len(res["families"])
    data = json.loads((tmp / "g.json").read_text())
    assert len(data["nodes"]) == g.number_of_nodes()


def test_timeline_order_and_time_sources(traced) -> None:  # noqa: ANN001
    res, _ = traced
    events = res["timeline"]
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)
    fam_a = _family_of(res, "phone-1", "A.jpg")["id"]
    (ea,) = [e for e in events if e["what"] == f"family {fam_a}"]
    assert (ea["source"], ea["path"]) == ("laptop-2", "copy-of-A.jpg")  # the older copy
    assert ea["time_source"] == "file system mtime at scan" and ea["time"].startswith(
        "2023-11-14")
    fam_b = _family_of(res, "phone-1", "B.jpg")["id"]
    (eb,) = [e for e in events if e["what"] == f"family {fam_b}"]
    assert (eb["time_source"], eb["path"]) == ("EXIF DateTimeOriginal", "B-small.jpg")
    assert eb["time"] == "2018-01-02T03:04:05"
    assert events[0] == eb  # the earliest event of the case
    fam_c = _family_of(res, "laptop-2", "C.png")["id"]
    (ec,) = [e for e in events if e["what"] == f"family {fam_c}"]
    assert ec["time_source"] == "archive member time" and ec["time"].startswith("2019-05-01")


def test_timeline_chart_and_html_report(traced) -> None:  # noqa: ANN001
    import xml.etree.ElementTree as ET

    res, tmp = traced
    svg = ET.parse(tmp / "t.svg").getroot()  # well-formed SVG
    dots = svg.findall(".//{http://www.w3.org/2000/svg}circle")
    assert len(dots) == len(res["timeline"])
    html = (tmp / "report.html").read_text()
    assert "Content families (" in html and "Generator fingerprints (" in html
    assert "<svg" in html and "EXIF DateTimeOriginal" in html and "http://" not in html
    quick = json.loads(Cairn(tmp / "home").run("report", "--case", "op", "--no-trace").stdout)
    assert quick["trace"]["families"] == [] and quick["summary"]["families"] == 0


def test_trace_across_cases(cairn: Cairn, tmp_path: Path) -> None:
    pic = jpeg_bytes(picture(950, (240, 180)))
    for case in ("op-north", "op-south"):
        d = tmp_path / case
        d.mkdir()
        (d / "x.jpg").write_bytes(pic)
        cairn.run("scan", d, "--case", case, "--new-case", "--source-name", "seized",
                  "--no-progress")
    assert cairn.json("trace", "--case", "op-north")["families"] == []
    res = cairn.json("trace", "--case", "op-north", "--case", "op-south")
    (f,) = res["families"]
    assert f["sources"] == ["op-north/seized", "op-south/seized"]


def test_trace_needs_a_case(cairn: Cairn) -> None:
    assert "no case named" in cairn.run("trace", "--case", "nope", ok=(2,)).stderr


def test_image_fixture_is_benign() -> None:
    assert Image.open(io.BytesIO(jpeg_bytes(picture(901, (48, 36))))).size == (48, 36)


def test_parallel_join_gives_the_same_families(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from cairn.trace import families as fam

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from bench_trace import make_items

    items, planted = make_items(4000, seed=9)
    monkeypatch.setattr(fam, "JOIN_BATCH", 700)  # several join tasks over 2 processes
    one = [f.to_dict() for f in fam.families(items, workers=1)]
    two = [f.to_dict() for f in fam.families(items, workers=2)]
    assert one == two and sum(f["size"] - 1 for f in one) == planted


def _item(source: str, path: str, *findings: dict) -> dict:
    return {"source": source, "path": path, "sha256": f"{source}/{path}",
            "findings": list(findings)}


def test_new_fingerprints_link_pictures_and_videos() -> None:
    """Issue 14: AIR URNs, resource hashes, accounts, the stealth carrier and the C2PA claim
    generator are link keys, on videos as on pictures, weighed by the same rarity."""
    from cairn.trace.links import keys_of, links

    air = "urn:air:sdxl:lora:civitai:328553@368189"
    civitai = {"kind": "generator", "generator": "civitai", "resources": [
        {"type": "lora", "name": "lighthouse-style", "hash": "0x0123456789AB", "air": air},
        {"type": "Checkpoint", "name": "base", "hash": "abcdef0123", "air": None}]}
    assert keys_of([civitai]) >= {("air", air), ("air_model", "urn:air:sdxl:lora:civitai:328553"),
                                  ("lora_hash", "0123456789ab"), ("model_hash", "abcdef0123")}
    other_version = {"kind": "generator", "generator": "civitai", "resources": [
        {"type": "lora", "air": "urn:air:sdxl:lora:civitai:328553@400000"}]}
    stealth = {"kind": "generator", "generator": "automatic1111", "account": "user-0042",
               "stealth": {"signature": "stealth_rgbcomp", "channel": "rgb", "compressed": True}}
    signed = {"kind": "c2pa", "state": "valid", "claim_generator": "Demo Generator 1.0",
              "signer": {"issuer": "Cairn Test CA", "common_name": "Demo Generator Signer"}}
    forged = {"kind": "c2pa", "state": "invalid", "claim_generator": "Demo Generator 1.0",
              "signer": {"issuer": "Cairn Test CA", "common_name": "Demo Generator Signer"}}
    items = [_item("ex-1", "a.png", civitai, stealth), _item("ex-2", "b.png", other_version),
             _item("ex-2", "clip.mp4", signed), _item("ex-3", "c.jpg", signed, stealth),
             _item("ex-4", "d.jpg", forged)]
    by = {(lk.type, lk.key): lk for lk in links(items)}
    model = by[("air_model", "urn:air:sdxl:lora:civitai:328553")]
    assert [i["path"] for i in model.items] == ["a.png", "b.png"] and model.weight == 0.5
    assert ("air", air) not in by  # one item cites that version
    c2 = by[("c2pa_signer", "Cairn Test CA/Demo Generator Signer")]
    assert [i["path"] for i in c2.items] == ["clip.mp4", "c.jpg"]  # the video links
    assert "d.jpg" not in [i["path"] for i in c2.items]  # a signature that failed: no key
    assert by[("c2pa_generator", "Demo Generator 1.0")].strength == "weak"
    assert by[("account", "automatic1111:user-0042")].strength == "strong"
    assert by[("stealth", "stealth_rgbcomp/rgb")].weight == 0.2
