"""Benign media in every format c2pa-python 0.38.1 signs and Cairn meets in evidence, signed
by c2pa-python's own Builder (the real tool, offline), and a loopback server that counts
the requests a remote manifest's URL receives.

Pictures are Pillow (pillow-heif for HEIC) drawings of `cairn.demo.picture`; video and audio
are PyAV encodes of those drawings and of a sine tone; WAV is the stdlib `wave`; the PDF is
one blank page written here to the PDF 1.4 file structure (ISO 32000-1 7.5: header, objects,
cross-reference table, trailer).
"""

from __future__ import annotations

import http.server
import io
import threading
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import av
import numpy as np
from PIL import TiffImagePlugin, TiffTags

from cairn import demo_provenance as dp
from cairn.demo import picture

SIZE = (64, 48)
DNG_VERSION = 50706  # TIFF tag DNGVersion (Adobe DNG 1.4 spec): what makes a TIFF a DNG


def _pil(fmt: str, **kw: object) -> Callable[[], bytes]:
    def make() -> bytes:
        buf = io.BytesIO()
        picture(7301, SIZE).save(buf, fmt, **kw)
        return buf.getvalue()
    return make


def dng() -> bytes:
    """A TIFF whose IFD0 carries DNGVersion 1.4.0.0: c2pa-python signs it as a DNG."""
    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    ifd[DNG_VERSION] = b"\x01\x04\x00\x00"
    ifd.tagtype[DNG_VERSION] = TiffTags.BYTE
    buf = io.BytesIO()
    picture(7302, SIZE).save(buf, "TIFF", tiffinfo=ifd)
    return buf.getvalue()


def video(container: str, frames: int = 10) -> Callable[[], bytes]:
    """MPEG-4 part 2 video of drawings (the encoder every PyAV build has), 25 frames/s."""
    def make() -> bytes:
        buf = io.BytesIO()
        with av.open(buf, "w", format=container) as out:
            s = out.add_stream("mpeg4", rate=25)
            s.width, s.height, s.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
            for i in range(frames):
                frame = av.VideoFrame.from_ndarray(np.asarray(picture(7310 + i, SIZE)),
                                                   format="rgb24")
                out.mux(s.encode(frame))
            out.mux(s.encode())
        return buf.getvalue()
    return make


def tone(container: str, codec: str) -> Callable[[], bytes]:
    """Half a second of a 440 Hz sine, mono, 44.1 kHz."""
    def make() -> bytes:
        buf = io.BytesIO()
        with av.open(buf, "w", format=container) as out:
            s = out.add_stream(codec, rate=44100)
            s.layout = "mono"
            for start in range(0, 22050, 1152):
                t = (np.arange(start, start + 1152) / 44100).astype(np.float32)
                samples = (0.3 * np.sin(2 * np.pi * 440 * t)).reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
                frame.sample_rate, frame.pts = 44100, start
                out.mux(s.encode(frame))
            out.mux(s.encode())
        return buf.getvalue()
    return make


def wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((np.sin(np.arange(4000) * 0.3) * 8000).astype("<i2").tobytes())
    return buf.getvalue()


def pdf() -> bytes:
    """One empty A6 page: catalog, page tree, page, xref table with each object's offset."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 298 420] >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


@dataclass(frozen=True)
class Format:
    name: str
    make: Callable[[], bytes]
    mime: str  # what c2pa-python signs it as
    sniffed: str  # what media/sniff must call the signed file
    ext: str


FORMATS = [
    Format("jpeg", _pil("JPEG", quality=90), "image/jpeg", "image/jpeg", "jpg"),
    Format("png", _pil("PNG"), "image/png", "image/png", "png"),
    Format("webp", _pil("WEBP"), "image/webp", "image/webp", "webp"),
    Format("gif", _pil("GIF"), "image/gif", "image/gif", "gif"),
    Format("tiff", _pil("TIFF"), "image/tiff", "image/tiff", "tif"),
    Format("dng", dng, "image/x-adobe-dng", "image/tiff", "dng"),  # a DNG is a TIFF
    Format("heic", _pil("HEIF"), "image/heic", "image/heic", "heic"),
    Format("avif", _pil("AVIF"), "image/avif", "image/avif", "avif"),
    Format("mp4", video("mp4"), "video/mp4", "video/mp4", "mp4"),
    Format("mov", video("mov"), "video/quicktime", "video/quicktime", "mov"),
    Format("m4v", video("ipod"), "video/x-m4v", "video/x-m4v", "m4v"),
    Format("avi", video("avi"), "video/x-msvideo", "video/x-msvideo", "avi"),
    Format("m4a", tone("ipod", "aac"), "audio/mp4", "audio/mp4", "m4a"),
    Format("wav", wav, "audio/wav", "audio/wav", "wav"),
    Format("mp3", tone("mp3", "libmp3lame"), "audio/mpeg", "audio/mpeg", "mp3"),
    Format("flac", tone("flac", "flac"), "audio/flac", "audio/flac", "flac"),
    Format("pdf", pdf, "application/pdf", "application/pdf", "pdf"),
]
BY_NAME = {f.name: f for f in FORMATS}

MANIFEST = {"claim_generator_info": [{"name": "Demo Generator", "version": "1.0"}],
            "title": "benign-demo", "assertions": [{"label": "c2pa.actions", "data": {
                "actions": [{"action": "c2pa.created", "digitalSourceType": dp.C2PA_SYNTHETIC,
                             "softwareAgent": {"name": "Demo Model", "version": "2"}}]}}]}


def signed_with_url(creds: tuple[str, str, str], source: bytes, mime: str, url: str,
                    embed: bool = False) -> bytes:
    """`source` signed by c2pa-python with its manifest's URL written into the file's XMP
    (`Builder.set_remote_url`); `embed=False` (`set_no_embed`) leaves the store out of the
    file, as a publisher serving it from `url` would."""
    import c2pa

    _, chain, key = creds
    ctx = c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False},
                                  "builder": {"thumbnail": {"enabled": False}}})
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256,
                                                       chain.encode(), key.encode(), None))
    with c2pa.Builder(MANIFEST, context=ctx) as builder:
        if not embed:
            builder.set_no_embed()
        builder.set_remote_url(url)
        out = io.BytesIO()
        builder.sign(signer, mime, io.BytesIO(source), out)
    return out.getvalue()


def sdk_reader(data: bytes, mime: str, trust_pem: str | None, fetch: bool = False):  # noqa: ANN201
    """c2pa-python's own Reader on the same bytes, for Cairn's finding to agree with."""
    import c2pa

    settings: dict = {"verify": {"remote_manifest_fetch": fetch, "ocsp_fetch": False,
                                 "verify_trust": trust_pem is not None}}
    if trust_pem is not None:
        settings["trust"] = {"trust_anchors": trust_pem}
    return c2pa.Reader(mime, io.BytesIO(data), context=c2pa.Context.from_dict(settings))


@contextmanager
def counting_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server on a port it picks; yields (its base URL, the paths it was
    asked for). Every request gets 404: nothing is ever served."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        do_HEAD = do_POST = do_GET  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}", hits
    finally:
        srv.shutdown()
        srv.server_close()
