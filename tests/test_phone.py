"""Phone extractions and thumbnail stores (cairn.demo_phone's fictional exhibits): every
planted picture is found with its phone path, app and deleted flag as `origin`; what the
container lists but does not hold, damage, and stores Cairn cannot read are items or errors
with their reason."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import pytest

from cairn.demo import jpeg_bytes, picture
from cairn.demo_phone import CHAT, TELEGRAM_APP, WHATSAPP_GROUP, make_phone, thumbcache_db
from cairn.media import extraction, ufdr
from cairn.media.archives import ArchiveError, iter_members
from cairn.media.limits import Limits
from cairn.media.sniff import ANDROID_THUMBDATA, IOS_ITHMB, THUMBCACHE, kind_of, refine, sniff
from cairn.media.walk import walk
from cairn.scan.worker import process_entry
from inprocess import report_json, run, scan_case


@pytest.fixture(scope="module")
def phone(tmp_path_factory) -> dict:
    return make_phone(tmp_path_factory.mktemp("phone"))


def records(path: Path, limits: Limits | None = None) -> dict[str, dict]:
    out = {}
    for entry in walk(str(path)):
        for r in process_entry(entry, limits or Limits()):
            out[r["path"]] = r
    return out


def msgs(rec: dict) -> list[str]:
    return [e["message"] for e in rec["errors"]]


# -- UFDR --------------------------------------------------------------------------------------
def test_ufdr_members_carry_phone_path_app_deleted_and_times(phone) -> None:
    u = phone["ufdr"]
    recs = records(u["path"])
    top = recs["exhibit-09.ufdr"]
    assert top["kind"] == "archive" and top["errors"] == []
    for member, device_path in u["members"].items():
        r = recs[f"exhibit-09.ufdr!/{member}"]
        o = r["origin"]
        assert o["container"] == "ufdr" and o["device_path"] == device_path
        assert o["deleted"] is (member in u["deleted"])
        assert o["deleted_state"] == ("Deleted" if member in u["deleted"] else "Intact")
        assert o["timestamps"]["CreationTime"].startswith("2024-01-0")
        if member == u["altered"]:
            assert [e["stage"] for e in r["errors"]] == ["integrity"]
            assert "MD5 differs from the extraction report's" in msgs(r)[0]
        else:
            assert r["errors"] == []
    wa = recs["exhibit-09.ufdr!/files/Image/IMG-20240107-WA0002.jpg"]
    assert wa["kind"] == "image" and wa["pdq"]["quality"] > 50
    assert wa["origin"]["app"] == "WhatsApp" and wa["origin"]["app_id"] == "com.whatsapp"
    assert wa["origin"]["sent"] is True and wa["origin"]["app_basis"] == "path layout"
    assert recs["exhibit-09.ufdr!/files/Video/VID-20240108-WA0003.mp4"]["kind"] == "video"
    cam = recs["exhibit-09.ufdr!/files/Image/IMG_20240105_101500.jpg"]["origin"]
    assert cam["area"] == "camera"
    assert cam["hashes_reported"]["sha256"] == recs[
        "exhibit-09.ufdr!/files/Image/IMG_20240105_101500.jpg"]["sha256"]
    assert recs["exhibit-09.ufdr!/report.xml"]["origin"]["files_listed"] == 5


def test_ufdr_what_the_report_and_the_zip_disagree_on_is_visible(phone) -> None:
    u = phone["ufdr"]
    recs = records(u["path"])
    absent = [r for p, r in recs.items() if p.endswith(u["absent"])]
    assert len(absent) == 1
    (a,) = absent
    assert a["kind"] == "other" and "md5" not in a
    assert "without content" in msgs(a)[0] and "deleted" in msgs(a)[0]
    assert a["origin"]["deleted"] is True and a["origin"]["app"] == "Telegram"
    unlisted = recs[f"exhibit-09.ufdr!/{u['unlisted']}"]
    assert unlisted["origin"]["note"] == "not described by report.xml"
    assert unlisted["kind"] == "image"
    s3 = recs["exhibit-09.ufdr!/ThumbnailCache.s3dd"]["origin"]
    assert "not publicly documented" in s3["note"]


def _ufdr_bytes(report: bytes, members: dict[str, bytes]) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as zf:
        zf.writestr("report.xml", report)
        for k, v in members.items():
            zf.writestr(k, v)
    return b.getvalue()


def _members(data: bytes) -> tuple[list, str | None]:
    out, err = [], None
    try:
        for m in iter_members(io.BytesIO(data), "application/zip", "x.ufdr", Limits(), len(data)):
            out.append(m)
    except ArchiveError as e:
        err = str(e)
    return out, err


def test_ufdr_damaged_report_keeps_what_it_read_and_says_where(phone) -> None:
    with zipfile.ZipFile(phone["ufdr"]["path"]) as zf:
        report = zf.read("report.xml")
    cut = report[: report.index(b"IMG-20240107-WA0002.jpg")]  # inside the third file entry
    pic = jpeg_bytes(picture(1, (32, 24)))
    members, err = _members(_ufdr_bytes(cut, {"files/Image/IMG_20240105_101500.jpg": pic,
                                              "files/Image/IMG-20240107-WA0002.jpg": pic}))
    by = {m.name: m for m in members}
    assert by["files/Image/IMG_20240105_101500.jpg"].origin["deleted"] is False
    assert by["files/Image/IMG-20240107-WA0002.jpg"].origin["note"] == \
        "not described by report.xml"
    assert err and "damaged after 2 file entries" in err


@pytest.mark.parametrize("report,why", [
    (b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
     b'<project>&b;</project>', "DTDForbidden"),
    (b"<notaproject/>", "not <project>"),
    (b"", "not readable"),
])
def test_ufdr_hostile_or_foreign_report_is_refused_members_still_read(report, why) -> None:
    pic = jpeg_bytes(picture(2, (32, 24)))
    members, err = _members(_ufdr_bytes(report, {"files/Image/a.jpg": pic}))
    assert [m.name for m in members] == ["report.xml", "files/Image/a.jpg"]
    assert members[1].data == pic and "unreadable" in members[1].origin["note"]
    assert err and why in err


def test_report_reading_is_bounded(phone) -> None:
    with zipfile.ZipFile(phone["ufdr"]["path"]) as zf:
        report = zf.read("report.xml")
    r = ufdr.read_report(io.BytesIO(report), max_bytes=len(report) // 2)
    assert r.error and "larger than" in r.error and r.files < 5
    r = ufdr.read_report(io.BytesIO(report), max_files=2)
    assert r.files == 2 and "more than 2 files" in (r.error or "")
    charged: list[int] = []
    ufdr.read_report(io.BytesIO(report), charge=charged.append)
    assert sum(charged) == len(report)


# -- full file systems -------------------------------------------------------------------------
def test_ios_zip_apps_named_by_their_container_metadata(phone) -> None:
    recs = records(phone["ios_zip"])
    pre = "iphone-ffs.zip!/private/var/mobile/"
    wa = recs[f"{pre}Containers/Shared/AppGroup/{WHATSAPP_GROUP}/Message/Media/{CHAT}/a/1/"
              "5b2e0000-0042-4000-8000-00000000c001.jpg"]["origin"]
    assert wa["app_id"] == "group.net.whatsapp.WhatsApp.shared" and wa["app"] == "WhatsApp"
    assert wa["basis"] == "container metadata" and wa["area"] == "chat media"
    tg = [r for p, r in recs.items() if TELEGRAM_APP in p and p.endswith(".jpg")]
    assert tg[0]["origin"]["app"] == "Telegram" and tg[0]["kind"] == "image"
    thumb = recs[f"{pre}Media/PhotoData/Thumbnails/V2/DCIM/100APPLE/IMG_0003.JPG/5005.JPG"]
    assert thumb["origin"]["thumbnail"] is True and thumb["kind"] == "image"
    assert thumb["origin"]["thumbnail_of"] == "/private/var/mobile/Media/DCIM/100APPLE/IMG_0003.JPG"
    ithmb = recs[f"{pre}Media/PhotoData/Thumbnails/3141.ithmb"]
    assert ithmb["media_type"] == IOS_ITHMB and "not examined" in msgs(ithmb)[0]
    assert recs[f"{pre}Media/DCIM/100APPLE/IMG_0001.JPG"]["origin"]["area"] == "camera roll"


def test_ios_folder_reads_container_metadata_beside_the_file(phone) -> None:
    recs = records(phone["ios_dir"])
    wa = [r for p, r in recs.items() if "/Message/Media/" in p]
    assert wa[0]["origin"]["basis"] == "container metadata"
    assert wa[0]["origin"]["app_id"] == "group.net.whatsapp.WhatsApp.shared"
    assert sum(1 for r in recs.values() if r["kind"] == "image") == 5


def test_android_tar_apps_and_thumbdata_slots(phone) -> None:
    recs = records(phone["android"])
    pre = "android-ffs.tar!/"
    sent = [r for p, r in recs.items() if "/Sent/" in p][0]["origin"]
    assert sent["app"] == "WhatsApp" and sent["sent"] is True
    assert sent["device_path"].startswith("/sdcard/Android/media/com.whatsapp/")
    tg = recs[f"{pre}data/data/org.telegram.messenger/cache/-6012345_120.jpg"]["origin"]
    assert tg["area"] == "app private data" and tg["app"] == "Telegram"
    store = [p for p in recs if p.endswith("thumbdata3--1967290299")][0]
    assert recs[store]["media_type"] == ANDROID_THUMBDATA and recs[store]["errors"] == []
    slots = {r["origin"]["slot"]: r for p, r in recs.items() if p.startswith(store + "!/")}
    assert sorted(slots) == [1, 2]
    assert all(r["kind"] == "image" and r["pdq"]["quality"] > 0 for r in slots.values())
    assert slots[1]["origin"]["magic"] == f"{0x0D15EA5E0042 + 1:016x}"


def test_compressed_android_tar_still_attributed_by_path(phone, tmp_path) -> None:
    gz = tmp_path / "android-ffs.tar.gz"
    gz.write_bytes(gzip.compress(phone["android"].read_bytes()))
    recs = records(gz)
    sent = [r for p, r in recs.items() if "/Sent/" in p][0]
    assert sent["origin"]["app"] == "WhatsApp"


def test_ordinary_archives_get_no_origin(tmp_path) -> None:
    z = tmp_path / "holiday.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("DCIM/100/a.jpg", jpeg_bytes(picture(3, (32, 24))))
    assert all("origin" not in r for r in records(z).values())


# -- thumbnail stores --------------------------------------------------------------------------
@pytest.mark.parametrize("key,version,exts", [("thumbcache", 32, ["jpg", "png"]),
                                              ("thumbcache7", 21, ["bmp", "jpg"])])
def test_thumbcache_entries_become_items_damage_is_said(phone, key, version, exts) -> None:
    recs = records(phone[key])
    name = phone[key].name
    top = recs[name]
    assert top["media_type"] == THUMBCACHE and top["kind"] == "archive"
    assert any("40 bytes between entries" in m for m in msgs(top))
    thumbs = [r for p, r in recs.items() if p != name]
    assert sorted(r["path"].rsplit(".", 1)[1] for r in thumbs) == exts
    for i, r in enumerate(sorted(thumbs, key=lambda r: r["path"])):
        o = r["origin"]
        assert o["container"] == "thumbcache" and o["format_version"] == version
        assert o["entry_hash"] == f"{0x1F3A000000000042 + i:016x}" == o["identifier"]
        assert r["kind"] == "image" and r["pdq"]["quality"] > 0
    assert thumbs[0]["origin"]["cache"] == name


def test_thumbcache_entry_over_the_limit_is_an_error_member() -> None:
    big = jpeg_bytes(picture(4, (128, 96)))
    db = thumbcache_db(32, [big], 4)
    ms = list(iter_members(io.BytesIO(db), THUMBCACHE, "t.db",
                           Limits(max_member_size=len(big) - 1), len(db)))
    assert ms[0].data is None and "over the limit" in (ms[0].error or "")


def test_thumbcache_not_a_known_version_is_an_archive_error() -> None:
    db = b"CMMM" + (99).to_bytes(4, "little") + bytes(40)
    with pytest.raises(ArchiveError, match="version 99"):
        list(iter_members(io.BytesIO(db), THUMBCACHE, "t.db", Limits(), len(db)))


def test_sniffing_of_stores() -> None:
    db = thumbcache_db(21, [], 1)
    assert sniff(db) == THUMBCACHE and kind_of(THUMBCACHE) == "archive"
    assert sniff(b"CMMM" + bytes(40)) != THUMBCACHE  # no known version: not claimed
    assert refine("application/octet-stream", "a/.thumbdata3--1967290299") == ANDROID_THUMBDATA
    assert refine("image/jpeg", "a/.thumbdata3--1967290299") == "image/jpeg"
    assert refine("application/octet-stream", "x/3141.ithmb") == IOS_ITHMB
    assert kind_of(IOS_ITHMB) == "other"


def test_extraction_layouts_need_their_anchors() -> None:
    assert extraction.origin_of("home/user/DCIM/Camera/a.jpg") is None
    o = extraction.origin_of("Dump/data/media/0/Telegram/Telegram Images/1.jpg")
    assert o and o["app"] == "Telegram" and o["area"] == "chat media"
    o = extraction.origin_of(
        "fs/private/var/mobile/Containers/Data/Application/"
        "11111111-2222-4333-8444-555555555555/Library/x.jpg")
    assert o and o["app_id"] is None and "not read" in str(o["note"])


# -- the command line ----------------------------------------------------------------------------
def test_hash_members_prints_origins(phone, tmp_path) -> None:
    out = json.loads(run(tmp_path / "home", "hash", "--members", "--json",
                         phone["ufdr"]["path"]))
    by = {Path(r["path"]).name: r for r in out}
    assert by["IMG-20240107-WA0002.jpg"]["origin"]["deleted"] is True
    text = run(tmp_path / "home", "hash", "--members", phone["thumbcache"])
    assert "origin container=thumbcache" in text and "40 bytes between entries" in text


def test_scan_of_the_phone_exhibits_records_every_thumbnail_and_absence(phone, tmp_path) -> None:
    home = tmp_path / "home"
    summary = scan_case(home, phone["root"], "phone-case", "--workers", "1")
    assert summary["status"] == "complete", summary
    report = report_json(home, "phone-case")
    items = {it["path"]: it for it in report["items"]}
    thumbs = [p for p in items if "thumbcache_256.db!/" in p or "thumbdata3" in p and "!/slot" in p]
    assert len(thumbs) == 4
    absent = [it for p, it in items.items() if p.endswith(phone["ufdr"]["absent"])]
    assert len(absent) == 1 and "without content" in json.dumps(absent[0])
    # a free-space blob is not carved by a scan of files (the disk image reader carves)
    assert not any(p.startswith("unallocated.bin!/") for p in items)
    # where each member came from is kept in the store and comes back in the report
    origins = [it["origin"] for it in items.values() if isinstance(it.get("origin"), dict)]
    assert any(o.get("deleted") is True for o in origins), origins[:3]
    assert len(origins) >= len(thumbs)


def test_a_large_extraction_may_expand_to_its_own_size() -> None:
    """A 100 GB UFDR holds ~100 GB of stored pictures: the 8 GiB total is a bomb guard for
    small files, not a ceiling on phones; past twice its size it still stops, saying so."""
    from cairn.media.archives import Budget, BudgetExhausted

    big = 100 << 30
    b = Budget(Limits(), big)
    assert b.allowance == 2 * big
    b.skip(big)  # no exception: the UFDR's own size
    with pytest.raises(BudgetExhausted, match="twice its own size"):
        b.skip(big + 1)
    assert Budget(Limits(), 1000).allowance == Limits().ratio_floor  # small files unchanged


def test_ios_tar_reads_container_metadata_before_the_members(phone, tmp_path) -> None:
    from cairn.demo_phone import _tar, ios_tree

    tree = ios_tree()
    # the metadata plists last, as a tar may order them: still read first, from the headers
    ordered = dict(sorted(tree.items(), key=lambda kv: kv[0].endswith(".plist")))
    t = tmp_path / "iphone-ffs.tar"
    _tar(t, ordered)
    recs = records(t)
    wa = [r for p, r in recs.items() if "/Message/Media/" in p][0]["origin"]
    assert wa["basis"] == "container metadata" and wa["app"] == "WhatsApp"
    tg = [r for p, r in recs.items() if "telegram-cloud-photo" in p][0]["origin"]
    assert tg["app_id"] == "ph.telegra.Telegraph"


def test_ufdr_member_names_with_backslashes_still_match_the_report(phone) -> None:
    with zipfile.ZipFile(phone["ufdr"]["path"]) as zf:
        report = zf.read("report.xml")
        pic = zf.read("files/Image/IMG_20240105_101500.jpg")
    members, err = _members(_ufdr_bytes(report, {
        "files\\Image\\IMG_20240105_101500.jpg": pic}))
    by = {m.name: m for m in members}
    assert by["files\\\\Image\\\\IMG_20240105_101500.jpg"].origin["area"] == "camera"
    absent = [m.name for m in members if m.data is None]
    assert not any("IMG_20240105_101500" in n for n in absent)
    assert err is None
