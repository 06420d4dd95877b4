"""C2PA content credentials in every format c2pa-python 0.38.1 signs and Cairn meets in
evidence, read the way a user reads them (`cairn provenance --json --c2pa-trust`), each
finding checked against c2pa-python's own Reader on the same bytes; remote manifests seen
and never fetched; the trust-anchor workflow; a video's finding shaped like a picture's and
linked to it by signer in a traced case."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest

from c2pa_fixtures import (
    BY_NAME,
    FORMATS,
    Format,
    counting_server,
    sdk_reader,
    signed_with_url,
    video,
)
from cairn import demo_provenance as dp
from cairn.demo import jpeg_bytes, picture
from cairn.media.sniff import HEAD_BYTES, sniff
from cairn.provenance import examine, examine_stream
from cairn.provenance.c2pa_reader import (
    STATES,
    TrustError,
    might_have_c2pa,
    read_c2pa,
    remote_reference,
    trust_anchors,
)
from conftest import Cairn
from inprocess import scan_report

SIGNER = "Demo Generator Signer"
ISSUER = "Cairn Test CA"


@pytest.fixture(scope="module")
def creds() -> tuple[str, str, str]:
    return dp.c2pa_credentials()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory, creds) -> Path:  # noqa: ANN001
    tmp = tmp_path_factory.mktemp("c2pa")
    (tmp / "anchors.pem").write_text(creds[0])
    return tmp


def _c2pa(result: dict) -> dict:
    (f,) = [f for f in result["findings"] if f["kind"] == "c2pa"]
    return f


def _flip_in_mdat(data: bytes) -> bytes:
    """The MP4 with bytes in the middle of its media data (the mdat box's payload) flipped:
    what the C2PA data hash covers, not the manifest."""
    pos = 0
    while pos + 8 <= len(data):
        size, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
        if kind == b"mdat":
            out = bytearray(data)
            mid = pos + 8 + (size - 8) // 2
            out[mid:mid + 4] = bytes(b ^ 0xFF for b in out[mid:mid + 4])
            return bytes(out)
        pos += size
    raise AssertionError("no mdat box")


# -- every format, signed by c2pa-python, read through the CLI ---------------------------------
@pytest.fixture(scope="module")
def signed(work: Path, creds) -> dict[str, tuple[Path, bytes]]:  # noqa: ANN001
    out = {}
    ev = work / "formats"
    ev.mkdir()
    for fmt in FORMATS:
        data = dp.c2pa_signed(creds, fmt.make(), mime=fmt.mime)
        (ev / f"{fmt.name}.{fmt.ext}").write_bytes(data)
        out[fmt.name] = ev / f"{fmt.name}.{fmt.ext}", data
    tampered = _flip_in_mdat(out["mp4"][1])
    (ev / "tampered.mp4").write_bytes(tampered)
    out["tampered"] = ev / "tampered.mp4", tampered
    return out


@pytest.fixture(scope="module")
def through_cli(work: Path, signed) -> dict[str, dict]:  # noqa: ANN001
    """One `cairn provenance` run over every signed file, as a user would run it."""
    names = list(signed)
    res = Cairn(work / "home").json("provenance", *(signed[n][0] for n in names),
                                    "--c2pa-trust", work / "anchors.pem")
    assert [r["path"] for r in res] == [str(signed[n][0]) for n in names]
    return dict(zip(names, res, strict=True))


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_signed_format_is_trusted_through_cli(fmt: Format, signed, through_cli,  # noqa: ANN001
                                              creds) -> None:  # noqa: ANN001
    res = through_cli[fmt.name]
    assert res["media_type"] == fmt.sniffed and res["errors"] == []
    f = _c2pa(res)
    assert (f["state"], f["strength"]) == ("trusted", "cryptographic")
    assert f["signer"]["common_name"] == SIGNER and f["signer"]["issuer"] == ISSUER
    assert f["claim_generator"] == "Demo Generator 1.0"
    assert f["synthetic"] is True and f["digital_source_types"] == ["trainedAlgorithmicMedia"]
    assert "error" not in f and "failures" not in f
    # c2pa-python's own Reader, given the type the file was signed as, says the same
    with sdk_reader(signed[fmt.name][1], fmt.mime, creds[0]) as r:
        assert STATES[r.get_validation_state()] == f["state"]
        active = r.get_active_manifest()
    assert active["signature_info"]["common_name"] == f["signer"]["common_name"]


def test_tampered_mp4_is_invalid_and_names_the_check(signed, through_cli,  # noqa: ANN001
                                                     creds) -> None:  # noqa: ANN001
    f = _c2pa(through_cli["tampered"])
    assert (f["state"], f["strength"]) == ("invalid", "declared")
    codes = [x["code"] for x in f["failures"]]
    assert "assertion.bmffHash.mismatch" in codes and "bmffHash.mismatch" in f["error"]
    with sdk_reader(signed["tampered"][1], "video/mp4", creds[0]) as r:
        assert r.get_validation_state() == "Invalid"
        sdk = r.get_validation_results()["activeManifest"]["failure"]
    assert codes == [x["code"] for x in sdk]
    assert f["signer"]["common_name"] == SIGNER  # who signed what was changed


# -- media/sniff: what the signed files start with ----------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_unsigned_formats_sniff_alike(fmt: Format) -> None:
    assert sniff(fmt.make()[:HEAD_BYTES]) == fmt.sniffed


def test_mpeg_audio_and_flac_sniffing() -> None:
    mp3 = BY_NAME["mp3"].make()
    assert mp3.startswith(b"ID3")
    size = (mp3[6] << 21) | (mp3[7] << 14) | (mp3[8] << 7) | mp3[9]  # syncsafe, 7 bits a byte
    bare = mp3[10 + size:]
    assert bare[0] == 0xFF and sniff(bare[:HEAD_BYTES]) == "audio/mpeg"  # frame sync, no tag
    # a frame header whose next frame is not where its length says: not MP3
    assert sniff(bare[:4] + bytes(2000)) == "application/octet-stream"
    assert sniff(b"\xff\xfb" + bytes(100)) == "application/octet-stream"  # bitrate index 0
    flac = BY_NAME["flac"].make()
    assert flac.startswith(b"fLaC") and sniff(flac[:HEAD_BYTES]) == "audio/flac"
    # c2pa-python puts a FLAC's manifest in an ID3v2 tag in front of `fLaC`
    tagged = dp.c2pa_signed(dp.c2pa_credentials(), flac, mime="audio/flac")
    assert tagged.startswith(b"ID3") and sniff(tagged[:HEAD_BYTES]) == "audio/flac"
    assert sniff(b"ID3\x04\x00\x00\x00\x00\x00\x80" + bytes(100)) == "application/octet-stream"


def test_3gpp_is_read_as_mp4(creds) -> None:  # noqa: ANN001
    """c2pa-python does not list 3GPP, yet reads its boxes as MP4's: Cairn names it so."""
    data = dp.c2pa_signed(creds, video("3gp")(), mime="video/mp4")  # it won't sign video/3gpp
    assert sniff(data[:HEAD_BYTES]) == "video/3gpp"
    (f,) = read_c2pa(io.BytesIO(data), "video/3gpp", creds[0])
    assert f.data["state"] == "trusted"


def test_formats_the_sdk_cannot_read_give_no_finding() -> None:
    """A Matroska video (and WebM, MPEG-PS, FLV, ...) was handed to the SDK, which answered
    "type is unsupported", and that became an `invalid` C2PA finding on every such video."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as out:
        s = out.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        out.mux(s.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8),
                                                    format="rgb24")))
        out.mux(s.encode())
    data = buf.getvalue() + b"c2pa"
    assert sniff(data[:HEAD_BYTES]) == "video/x-matroska"
    assert read_c2pa(io.BytesIO(data), "video/x-matroska") == []
    assert [f for f in examine_stream(io.BytesIO(data), "video/x-matroska")
            if f.kind == "c2pa"] == []


# -- remote manifests: reported, never fetched --------------------------------------------------
@pytest.fixture(scope="module")
def remote(work: Path, creds) -> dict:  # noqa: ANN001
    """Every format signed with only a reference to its manifest at a loopback URL, and a
    JPEG with both an embedded store and the reference; one `cairn provenance` run over them
    while the server counts the requests it gets."""
    ev = work / "remote"
    ev.mkdir()
    with counting_server() as (base, hits):
        urls, files = {}, {}
        for fmt in FORMATS:
            urls[fmt.name] = f"{base}/manifests/{fmt.name}-0042"  # no "c2pa" in the name
            data = signed_with_url(creds, fmt.make(), fmt.mime, urls[fmt.name])
            files[fmt.name] = ev / f"{fmt.name}.{fmt.ext}"
            files[fmt.name].write_bytes(data)
        urls["both"] = f"{base}/manifests/both-0042"
        files["both"] = ev / "both.jpg"
        files["both"].write_bytes(signed_with_url(creds, BY_NAME["jpeg"].make(), "image/jpeg",
                                                  urls["both"], embed=True))
        names = list(files)
        res = Cairn(work / "home").json("provenance", *(files[n] for n in names),
                                        "--c2pa-trust", work / "anchors.pem", ok=(0, 1))
        seen_by_cairn = list(hits)
        # the counter counts: c2pa-python itself, allowed to fetch, asks the server
        with pytest.raises(Exception, match="fetch"):
            sdk_reader(files["jpeg"].read_bytes(), "image/jpeg", None, fetch=True)
        seen_by_sdk = list(hits)
    return {"results": dict(zip(names, res, strict=True)), "urls": urls, "files": files,
            "cairn_hits": seen_by_cairn, "sdk_hits": seen_by_sdk}


def test_remote_manifests_are_never_fetched(remote) -> None:  # noqa: ANN001
    assert remote["cairn_hits"] == []
    assert remote["sdk_hits"] == ["/manifests/jpeg-0042"]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_remote_manifest_is_reported(fmt: Format, remote) -> None:  # noqa: ANN001
    res = remote["results"][fmt.name]
    url = remote["urls"][fmt.name]
    assert res["media_type"] == fmt.sniffed
    f = _c2pa(res)
    assert f == {"kind": "c2pa", "strength": "declared", "source": "c2pa", "state": "remote",
                 "remote_manifest": url,
                 "error": f"remote manifest at {url}: not fetched, not validated"}


def test_remote_manifest_sdk_behaviour(remote) -> None:  # noqa: ANN001
    """What c2pa-python 0.38.1 does with a remote-only file when fetching is off: it refuses,
    naming the URL (Cairn reads the URL from there when the XMP gives none)."""
    import c2pa

    data = remote["files"]["mp4"].read_bytes()
    with pytest.raises(c2pa.C2paError, match="must fetch remote manifests from url "
                       + remote["urls"]["mp4"]):
        sdk_reader(data, "video/mp4", None)


def test_remote_reference_passes_the_cheap_gate(remote) -> None:  # noqa: ANN001
    data = remote["files"]["jpeg"].read_bytes()
    assert b"c2pa" not in data and might_have_c2pa(data)
    (f,) = [f for f in examine(data) if f.kind == "c2pa"]
    assert f.data == {"state": "remote", "remote_manifest": remote["urls"]["jpeg"]}


def test_embedded_manifest_with_a_reference(remote) -> None:  # noqa: ANN001
    f = _c2pa(remote["results"]["both"])
    assert (f["state"], f["remote_manifest"]) == ("trusted", remote["urls"]["both"])
    assert f["signer"]["common_name"] == SIGNER and "error" not in f


def test_remote_reference_from_xmp() -> None:
    def xmp(value: str, attr: bool = True) -> bytes:
        body = (f'<rdf:Description dcterms:provenance="{value}"/>' if attr else
                f"<rdf:Description><dcterms:provenance>{value}</dcterms:provenance>"
                "</rdf:Description>")
        return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
                '"http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:dcterms='
                f'"http://purl.org/dc/terms/">{body}</rdf:RDF></x:xmpmeta>').encode()

    url = "https://manifests.example.test/abc.c2pa"
    assert remote_reference(xmp(url)) == url
    assert remote_reference(xmp(url, attr=False)) == url
    assert remote_reference(xmp("handed over by user-0042 in 2024")) is None  # free text
    assert remote_reference(xmp("https://example.test/" + "a" * 3000)) is None
    assert remote_reference(xmp("https://example.test/&#27;[2J")) is None  # a terminal escape
    assert remote_reference(xmp(url)[:-20]) is None  # damaged XML: the XMP reader says so
    assert remote_reference(None) is None


# -- trust anchors: the examiner's bundle, never ours, never fetched -----------------------------
@pytest.fixture(scope="module")
def signed_jpeg(work: Path, creds) -> Path:  # noqa: ANN001
    p = work / "signed.jpg"
    p.write_bytes(dp.c2pa_signed(creds, jpeg_bytes(picture(7360, (320, 240)))))
    return p


def test_trust_bundle_with_the_signing_root(work: Path, signed_jpeg: Path,
                                            creds) -> None:  # noqa: ANN001
    others = [dp.c2pa_credentials()[0] for _ in range(2)]
    bundle = work / "bundle.pem"  # a trust list as published: comments between certificates
    bundle.write_text(f"# C2PA trust list (test)\n{others[0]}\n# ours\n{creds[0]}{others[1]}")
    f = _c2pa(Cairn(work / "home").json("provenance", signed_jpeg, "--c2pa-trust", bundle))
    assert (f["state"], f["strength"], f["signer"]["common_name"]) == (
        "trusted", "cryptographic", SIGNER)


def test_trust_bundle_without_the_signing_root(work: Path, signed_jpeg: Path) -> None:
    bundle = work / "others.pem"
    bundle.write_text("".join(dp.c2pa_credentials()[0] for _ in range(2)))
    f = _c2pa(Cairn(work / "home").json("provenance", signed_jpeg, "--c2pa-trust", bundle))
    assert (f["state"], f["strength"]) == ("valid", "cryptographic")
    assert f["signer"] == {**f["signer"], "common_name": SIGNER, "issuer": ISSUER}


@pytest.mark.parametrize(("text", "says"), [
    ("", "no PEM certificate"), ("hello", "no PEM certificate"),
    ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "unreadable"),
    ("-----BEGIN CERTIFICATE-----\n", "unreadable")], ids=["empty", "text", "bad", "cut"])
def test_trust_bundle_that_is_not_one_stops_the_run(work: Path, signed_jpeg: Path,
                                                     text: str, says: str) -> None:
    bad = work / "bad.pem"
    bad.write_text(text)
    err = Cairn(work / "home").run("provenance", signed_jpeg, "--c2pa-trust", bad,
                                   ok=(2,)).stderr
    assert says in err and "--c2pa-trust wants a PEM bundle" in err


def test_trust_anchors_normalises_the_bundle(creds) -> None:  # noqa: ANN001
    assert trust_anchors(f"comment\n{creds[0]}trailing text\n") == creds[0]
    with pytest.raises(TrustError):
        trust_anchors(creds[0].replace("A", "*", 3))


# -- a video's finding has a picture's shape; both link by signer -------------------------------
def test_video_finding_has_the_picture_shape(creds) -> None:  # noqa: ANN001
    sketch = jpeg_bytes(picture(7370, (160, 120)))
    jpeg = dp.c2pa_signed(creds, jpeg_bytes(picture(7371, (320, 240))), ingredient=sketch)
    mp4 = dp.c2pa_signed(creds, BY_NAME["mp4"].make(), mime="video/mp4", ingredient=sketch)
    (pic,) = [f.to_dict() for f in examine(jpeg, c2pa_trust=creds[0]) if f.kind == "c2pa"]
    (vid,) = [f.to_dict() for f in examine_stream(io.BytesIO(mp4), "video/mp4", creds[0])
              if f.kind == "c2pa"]
    assert set(vid) == set(pic)
    for k in ("kind", "strength", "state", "claim_generator", "actions",
              "digital_source_types", "synthetic", "ingredients", "title"):
        assert vid[k] == pic[k], k
    assert {k: v for k, v in vid["signer"].items() if k != "time"} == {
        k: v for k, v in pic["signer"].items() if k != "time"}
    assert [i["title"] for i in vid["ingredients"]] == ["sketch.jpg"]


def test_scan_links_a_video_and_a_picture_by_signer(tmp_path: Path, cairn: Cairn,
                                                    creds) -> None:  # noqa: ANN001
    ev = tmp_path / "exhibit"
    ev.mkdir()
    (ev / "clip.mp4").write_bytes(dp.c2pa_signed(creds, BY_NAME["mp4"].make(),
                                                 mime="video/mp4"))
    (ev / "still.jpg").write_bytes(dp.c2pa_signed(creds, jpeg_bytes(picture(7380,
                                                                            (320, 240)))))
    (ev / "plain.jpg").write_bytes(jpeg_bytes(picture(7381, (320, 240))))
    pem = tmp_path / "anchors.pem"
    pem.write_text(creds[0])
    rep = scan_report(cairn.home, ev, "c2", "--c2pa-trust", pem)
    states = {it["path"]: [f["state"] for f in it["findings"] if f["kind"] == "c2pa"]
              for it in rep["items"]}
    assert states == {"clip.mp4": ["trusted"], "still.jpg": ["trusted"], "plain.jpg": []}
    res = cairn.json("trace", "--case", "c2")
    (link,) = [lk for lk in res["links"] if lk["type"] == "c2pa_signer"]
    assert link["key"] == f"{ISSUER}/{SIGNER}"
    assert sorted(it["path"] for it in link["items"]) == ["clip.mp4", "still.jpg"]
