"""Seed corpora for every fuzz target, generated (never committed): the demo fixtures'
pictures with generator metadata, C2PA credentials, XMP and model files (cairn.demo,
cairn.demo_provenance), re-made small so mutations stay fast, plus small archives and videos
made here. All benign: gradients and shapes, fictional names.

    python fuzz/seeds.py fuzz-out/seeds        # one folder per target
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import io
import json
import lzma
import pickle
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from cairn.demo import picture
from cairn.demo_provenance import (
    A1111_TEXT,
    XMP_DST,
    c2pa_credentials,
    c2pa_signed,
    comfyui_graph,
    comfyui_workflow,
    embed_stealth,
    invokeai_metadata,
    novelai_comment,
    png,
    safetensors,
    with_exif,
)

SMALL = (48, 32)
MJ_DESC = ("a paper boat on a pond --ar 4:3 --v 6.1 --stylize 250 --seed 12 "
           "Job ID: 3f2b6c1e-8a4d-4f0b-9c7e-1d2e3f4a5b6c")
FOOOCUS_META = {"prompt": "a tram in the rain", "negative_prompt": "",
                "resolution": "(896, 1152)", "guidance_scale": 4.0, "steps": 30,
                "sampler": "dpmpp_2m_sde_gpu", "scheduler": "karras", "seed": "1234567",
                "base_model": "juggernautXL_v8", "base_model_hash": "aeb7e9e689",
                "loras": [["offset-lora.safetensors", 0.1, "4852686128"]], "LoRA 1": "x : 0.5",
                "version": "Fooocus v2.5.5"}


def _img(seed: int, mode: str = "RGB", size: tuple[int, int] = SMALL) -> Image.Image:
    return picture(seed, size).convert(mode)


def _save(img: Image.Image, fmt: str, **kw: object) -> bytes:
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def _xmp(code: str = "trainedAlgorithmicMedia") -> str:
    return XMP_DST.format(code=code)


def _icc() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def generator_texts() -> dict[str, dict[str, bytes]]:
    """Per generator reader: its text values joined by NUL in fuzz.targets' key order."""
    def join(*values: str) -> bytes:
        return b"\0".join(v.encode() for v in values)

    nai = novelai_comment()
    nai_signed = dict(nai, signed_hash="A" * 86 + "==")
    swarm = {  # the layout of SwarmUI's metadata (docs/Image Metadata Format.md), benign values
        "sui_image_params": {"prompt": "a cabin in snow", "negativeprompt": "", "seed": "42",
                             "model": "demo/model-a", "steps": 20, "cfgscale": 7.0,
                             "width": 512, "height": 512, "loras": ["demo/lora-b"],
                             "loraweights": ["0.8"], "swarm_version": "0.9.6.2"},
        "sui_extra_data": {"date": "2026-01-01", "generation_time": "1.00 sec"},
        "sui_models": [{"name": "demo/model-a.safetensors", "param": "model",
                        "hash": "0x" + "ab" * 32},
                       {"name": "demo/lora-b.safetensors", "param": "loras",
                        "hash": "0x" + "cd" * 32}]}
    return {
        "a1111": {"png": join(A1111_TEXT.format(lora="0123456789ab")),
                  "exif": join("", A1111_TEXT.format(lora="abc"), "Forge f2.0"),
                  "quoted": join('p\nSteps: 1, Sampler: "a, b", Seed: 2, '
                                 'Lora hashes: "x: 0a1b2c3d"')},
        "comfyui": {"api": join(json.dumps(comfyui_graph()), json.dumps(comfyui_workflow())),
                    "ui": join("", json.dumps(comfyui_workflow()))},
        "invokeai": {"meta": join(json.dumps(invokeai_metadata())),
                     "sd": join("", json.dumps({"model_weights": "sd-1.5", "image": {
                         "prompt": [{"prompt": "a cabin", "weight": 1}], "seed": 5,
                         "width": 512, "height": 512, "sampler": "k_lms"}})),
                     "dream": join("", "", '"a cabin in snow" -s 50 -S 42 -W 512 -H 512 -C 7.5'
                                   " -A k_lms")},
        "fooocus": {"json": join(json.dumps(FOOOCUS_META), "fooocus"),
                    "a1111": join(A1111_TEXT.format(lora="0a"), "a1111", "Fooocus v2.5.5")},
        "midjourney": {"png": join(MJ_DESC, "demo_user"),
                       "exif": join("", "", MJ_DESC, "user-0042")},
        "swarmui": {"png": join(json.dumps(swarm, indent=2)),
                    "exif": join("", json.dumps(swarm)),
                    "nan": join(json.dumps(swarm, indent=2).replace('"cfgscale": 7.0',
                                                                    '"cfgscale": NaN'))},
        "novelai": {"plain": join("NovelAI", "NovelAI Diffusion V4.5 4BDE2A90",
                                  json.dumps(nai), nai["prompt"], "3.1"),
                    "signed": join("NovelAI", "NovelAI Diffusion V3", json.dumps(nai_signed))},
    }


def stealth_raw(img: Image.Image) -> bytes:
    """fuzz.targets.stealth_image's layout: height, then alpha column-major."""
    alpha = np.asarray(img.getchannel("A"))
    return alpha.shape[0].to_bytes(2, "big") + alpha.T.tobytes()


def images() -> dict[str, bytes]:
    """Small pictures in every format the decoder meets, carrying each kind of metadata."""
    texts = generator_texts()
    out = {
        "plain.png": _save(_img(1), "PNG"),
        "rgba.png": _save(_img(2, "RGBA"), "PNG"),
        "palette.png": _save(_img(3, "P"), "PNG"),
        "grey16.png": _save(_img(4, "I;16"), "PNG"),
        "bilevel.png": _save(_img(5, "1"), "PNG"),
        "icc.png": _save(_img(6), "PNG", icc_profile=_icc()),
        "a1111.png": png(_img(7), {"parameters": A1111_TEXT.format(lora="0123456789ab")}),
        "comfyui.png": png(_img(8), ztxt={"prompt": json.dumps(comfyui_graph()),
                                          "workflow": json.dumps(comfyui_workflow())}),
        "invokeai.png": png(_img(9), {"invokeai_metadata": json.dumps(invokeai_metadata())}),
        "novelai.png": png(_img(10), {k: v.decode() for k, v in zip(
            ("Software", "Source", "Comment", "Description"),
            texts["novelai"]["plain"].split(b"\0"), strict=False)}),
        "stealth.png": png(embed_stealth(_img(11, size=(64, 48)), {
            "Software": "NovelAI", "Comment": json.dumps(novelai_comment(seed=99))})),
        "fooocus.png": png(_img(12), {"parameters": json.dumps(FOOOCUS_META),
                                      "fooocus_scheme": "fooocus"}),
        "midjourney.png": png(_img(13), {"Description": MJ_DESC, "Author": "user-0042",
                                         "XML:com.adobe.xmp": _xmp()}),
        "exif.jpg": with_exif(_img(14), "JPEG", comment=A1111_TEXT.format(lora="ab"),
                              software="Fooocus v2.5.5", maker_note=b'{"a": 1}', quality=80),
        "xmp-icc.jpg": _save(_img(15), "JPEG", xmp=_xmp().encode(), icc_profile=_icc()),
        "progressive.jpg": _save(_img(16), "JPEG", progressive=True, quality=70),
        "grey.jpg": _save(_img(17, "L"), "JPEG"),
        "cmyk.jpg": _save(_img(18, "CMYK"), "JPEG"),
        "exif.webp": with_exif(_img(19), "WEBP", comment="hello", quality=60),
        "lossless.webp": _save(_img(20, "RGBA"), "WEBP", lossless=True),
        "anim.gif": _save(_img(21, "P"), "GIF", save_all=True,
                          append_images=[_img(22, "P")], duration=100, loop=0),
        "plain.bmp": _save(_img(23), "BMP"),
        "exif.tiff": with_exif(_img(24), "TIFF", comment="tiff comment", software="DemoCam"),
        "deflate.tiff": _save(_img(25), "TIFF", compression="tiff_adobe_deflate"),
    }
    # big enough for the watermark reader (256x256, not 4:2:0 JPEG), small as files
    ramp = Image.linear_gradient("L").convert("RGB")
    out["watermark-444.jpg"] = _save(ramp, "JPEG", quality=30, subsampling=0)
    out["watermark.webp"] = _save(ramp, "WEBP", lossless=True)
    # no HEIF encoder in this libheif: HEIF is then reached by mutation alone
    with contextlib.suppress(OSError, KeyError, ValueError):
        out["small.heic"] = _save(_img(26), "HEIF", quality=50)
    return out


def c2pa_images() -> dict[str, bytes]:
    creds = c2pa_credentials()
    jpeg = _save(_img(30), "JPEG", quality=70)
    out = {"signed.jpg": c2pa_signed(creds, jpeg),
           "ingredient.jpg": c2pa_signed(creds, jpeg, ingredient=_save(_img(31), "JPEG"))}
    with contextlib.suppress(Exception):  # PNG signing depends on the SDK build
        out["signed.png"] = c2pa_signed(creds, _save(_img(32), "PNG"), mime="image/png")
    return out


def _zip(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", method) as zf:
        for name, data in entries.items():
            if name.endswith("/"):
                zf.writestr(zipfile.ZipInfo(name), b"")
            else:
                zf.writestr(name, data)
    return b.getvalue()


def _tar(mode: str = "w", fmt: int = tarfile.PAX_FORMAT) -> bytes:
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode=mode, format=fmt) as tf:  # type: ignore[call-overload]
        def add(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE,
                link: str = "") -> None:
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname, ti.size, ti.mtime = kind, link, len(data), 1_700_000_000
            tf.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
        add("DCIM/", kind=tarfile.DIRTYPE)
        add("DCIM/a.png", _save(_img(40, size=(8, 8)), "PNG"))
        add("notes.txt", b"benign notes\n" * 3)
        add("link", kind=tarfile.SYMTYPE, link="notes.txt")
        add("hard", kind=tarfile.LNKTYPE, link="notes.txt")
        add("fifo", kind=tarfile.FIFOTYPE)
        add("../up.txt", b"x")
        if fmt != tarfile.USTAR_FORMAT:  # ustar cannot hold a name this long
            add("long/" + "n" * 120 + ".txt", b"long name")
    return b.getvalue()


def archives() -> dict[str, dict[str, bytes]]:
    small = {"a.txt": b"hello " * 20, "DCIM/": b"", "DCIM/b.png": _save(_img(41, size=(8, 8)),
                                                                         "PNG")}
    tar_plain = _tar()
    return {
        "zip": {"deflate.zip": _zip(small), "stored.zip": _zip(small, zipfile.ZIP_STORED),
                "bzip2.zip": _zip(small, zipfile.ZIP_BZIP2),
                "lzma.zip": _zip(small, zipfile.ZIP_LZMA),
                "nested.zip": _zip({"inner.zip": _zip({"x.txt": b"x"}), "../up.txt": b"u"}),
                "empty.zip": _zip({})},
        "tar": {"pax.tar": tar_plain, "gnu.tar": _tar("w", tarfile.GNU_FORMAT),
                "ustar.tar": _tar("w", tarfile.USTAR_FORMAT)},
        "compressed": {"text.gz": gzip.compress(b"benign text\n" * 40),
                       "multi.gz": gzip.compress(b"one\n") + gzip.compress(b"two\n"),
                       "tar.gz": gzip.compress(tar_plain), "tar.bz2": bz2.compress(tar_plain),
                       "tar.xz": lzma.compress(tar_plain), "text.bz2": bz2.compress(b"b" * 99),
                       "text.xz": lzma.compress(b"x" * 99)},
    }


def models() -> dict[str, bytes]:
    rng = np.random.default_rng(7)
    tensors = rng.bytes(512)
    ckpt = _zip({"archive/data.pkl": pickle.dumps({"w": [1, 2, 3]}, protocol=2),
                 "archive/version": b"3\n", "archive/data/0": rng.bytes(64)},
                zipfile.ZIP_STORED)
    return {"lora.safetensors": safetensors(tensors, {"ss_output_name": "harbour-style",
                                                      "sshs_model_hash": "ab" * 32}),
            "bare.safetensors": safetensors(tensors),
            "model.ckpt": ckpt}


def videos() -> dict[str, bytes]:
    import av

    out: dict[str, bytes] = {}
    for name, fmt, codec, pix in (("mpeg4.mp4", "mp4", "mpeg4", "yuv420p"),
                                  ("mjpeg.mkv", "matroska", "mjpeg", "yuvj420p"),
                                  ("mpeg4.avi", "avi", "mpeg4", "yuv420p"),
                                  ("h264.mp4", "mp4", "libx264", "yuv420p"),
                                  ("vp8.webm", "webm", "libvpx", "yuv420p")):
        with tempfile.NamedTemporaryFile(suffix="." + name.rsplit(".", 1)[1]) as tmp:
            try:
                with av.open(tmp.name, "w", format=fmt) as container:
                    stream = container.add_stream(codec, rate=4)
                    stream.width, stream.height, stream.pix_fmt = 32, 32, pix
                    for i in range(6):
                        frame = av.VideoFrame.from_image(_img(50 + i, size=(32, 32)))
                        for packet in stream.encode(frame):
                            container.mux(packet)
                    for packet in stream.encode():
                        container.mux(packet)
            except (av.error.FFmpegError, ValueError):
                continue  # that encoder is not in this PyAV build
            out[name] = Path(tmp.name).read_bytes()
    return out


def xmp_packets() -> dict[str, bytes]:
    return {"dst.xmp": _xmp().encode(),
            "composite.xmp": _xmp("compositeWithTrainedAlgorithmicMedia").encode(),
            "elements.xmp": (
                b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/'
                b'1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:xmp="http://ns.adobe.com/'
                b'xap/1.0/" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
                b'<xmp:CreatorTool>Demo</xmp:CreatorTool><xmp:CreateDate>2024-01-01'
                b'</xmp:CreateDate><Iptc4xmpExt:DigitalSourceType rdf:resource="http://cv.'
                b'iptc.org/newscodes/digitalsourcetype/digitalCapture"/></rdf:Description>'
                b'</rdf:RDF></x:xmpmeta>'),
            "doctype.xmp": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "v">]><x>&e;</x>'}


def phone() -> dict[str, dict[str, bytes]]:
    """Seeds for the phone readers: cairn.demo_phone's report.xml, thumbnail stores and a
    small stretch of free space with one picture of each carved format."""
    from cairn.demo_phone import _save, android_thumbdata, thumbcache_db, ufdr

    with tempfile.TemporaryDirectory() as d:
        made = ufdr(Path(d) / "seed.ufdr", Path(d))
        with zipfile.ZipFile(made["path"]) as zf:
            report = zf.read("report.xml")
    small = [_save(70, "JPEG", (16, 12)), _save(71, "PNG", (16, 12)), _save(72, "GIF", (16, 12)),
             _save(73, "WEBP", (16, 12))]
    free = b"".join(bytes(64) + b"\x5a" * 37 + f for f in small) + bytes(32)
    jpg = small[0]
    return {
        "ufdr": {"report.xml": report, "cut.xml": report[: len(report) * 2 // 3],
                 "empty-project.xml": b'<project xmlns="http://pa.cellebrite.com/report/2.0">'
                                      b"<taggedFiles/></project>"},
        "thumbcache": {"win10.db": thumbcache_db(32, [jpg, small[1]], 4),
                       "win7.db": thumbcache_db(21, [jpg], 1),
                       "thumbdata": android_thumbdata([jpg], slot=2000)},
        "carve": {"free.bin": free, "one.jpg": jpg},
        "thumb_text": thumbnails(),
    }


def _mbr(parts: list[tuple[int, int, int]], size: int = 64 * 1024) -> bytes:
    """A disk of `size` bytes whose MBR lists (type, first sector, sectors)."""
    disk = bytearray(size)
    for i, (ptype, start, count) in enumerate(parts):
        disk[446 + 16 * i: 462 + 16 * i] = (bytes([0, 0, 2, 0, ptype, 0, 0, 0])
                                            + start.to_bytes(4, "little")
                                            + count.to_bytes(4, "little"))
    disk[510:512] = b"\x55\xaa"
    return bytes(disk)


def _apm(unit: int, size: int = 64 * 1024) -> bytes:
    """A disk whose Apple Partition Map counts `unit`-byte blocks (2048 on a hybrid disc)."""
    disk = bytearray(size)
    blocks = size // unit
    disk[:8] = b"ER" + unit.to_bytes(2, "big") + blocks.to_bytes(4, "big")
    entries = [(1, 3, b"Apple", b"Apple_partition_map"), (4, blocks // 2, b"Volume",
               b"Apple_HFS"), (4 + blocks // 2, blocks - 4 - blocks // 2, b"", b"Apple_Free")]
    for i, (start, count, name, ptype) in enumerate(entries, 1):
        disk[i * unit: i * unit + 80] = (b"PM\0\0" + len(entries).to_bytes(4, "big")
                                         + start.to_bytes(4, "big") + count.to_bytes(4, "big")
                                         + name.ljust(32, b"\0") + ptype.ljust(32, b"\0"))
    return bytes(disk)


def disks() -> dict[str, bytes]:
    """Partition tables: an MBR with a FAT and a Linux partition, Apple Partition Maps of 512-
    and 2048-byte blocks."""
    return {"mbr.img": _mbr([(0x0C, 1, 40), (0x83, 41, 80)]), "apm512.img": _apm(512),
            "apm2048.img": _apm(2048)}


def thumbnails() -> dict[str, bytes]:
    """freedesktop.org thumbnails with their Thumb:: text in each chunk form."""
    from PIL import PngImagePlugin

    uri = "file:///home/user-0042/Pictures/F%C3%A9rias%202019.jpg"
    out = {}
    for name, how in (("text", "tEXt"), ("ztxt", "zTXt"), ("itxt", "iTXt"),
                      ("path", "bare")):
        info = PngImagePlugin.PngInfo()
        value = "/home/user-0042/Pictures/a b.jpg" if how == "bare" else uri
        if how == "iTXt":
            info.add_itxt("Thumb::URI", value, zip=True)
        else:
            info.add_text("Thumb::URI", value, zip=how == "zTXt")
        for key, v in (("MTime", "1704877200"), ("Size", "48213"), ("Mimetype", "image/jpeg"),
                       ("Image::Width", "4000"), ("Image::Height", "3000")):
            info.add_text(f"Thumb::{key}", v)
        out[f"{name}.png"] = _save(_img(80, size=(16, 12)), "PNG", pnginfo=info)
    return out


def corpora() -> dict[str, dict[str, bytes]]:
    """target name -> {seed file name: bytes}."""
    imgs, c2pa, arch, vids = images(), c2pa_images(), archives(), videos()
    stealth_img = embed_stealth(_img(60, size=(64, 48)), {
        "Software": "NovelAI", "Source": "NovelAI Diffusion V3 7BCCAA2C",
        "Comment": json.dumps(novelai_comment(seed=99))})
    pictures = imgs | c2pa
    out: dict[str, dict[str, bytes]] = {
        **arch,
        "decode": imgs, "image_signals": imgs, "examine": pictures, "c2pa": c2pa,
        "xmp": xmp_packets(), "models": models(), "video": vids, "media_tags": vids,
        **phone(), "volumes": disks(),
        "stealth": {"stealth.raw": stealth_raw(stealth_img),
                    "plain.raw": stealth_raw(_img(61, "RGBA", (16, 16)))},
    }
    for name, seeds in generator_texts().items():
        out[name] = seeds
    every = {f"{t}-{n}": b[:4096] for t, s in out.items() for n, b in s.items()}
    out["sniff"] = every
    return out


def write(root: Path, only: Callable[[str], bool] = lambda _: True) -> dict[str, int]:
    """Write each target's seeds to root/<target>/<sha1 prefix>-<name>; returns counts."""
    counts = {}
    for target, seeds in corpora().items():
        if not only(target):
            continue
        folder = root / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            digest = hashlib.sha1(data).hexdigest()[:12]
            (folder / f"{digest}-{name}").write_bytes(data)
        counts[target] = len(seeds)
    return counts


if __name__ == "__main__":
    counts = write(Path(sys.argv[1] if len(sys.argv) > 1 else "fuzz-out/seeds"))
    print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())))
