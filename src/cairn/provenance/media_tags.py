"""Metadata of media that is not decoded as a picture (video, audio): the container's own
tags and XMP packet, read from the stream by our own code, with limits, into the same
`Metadata` the generator readers take for pictures (ComfyUI's `prompt`/`workflow` MP4 tags,
a video's XMP digital source type).
"""

from __future__ import annotations

from typing import BinaryIO

from cairn.provenance.containers import Metadata


def read_media_tags(f: BinaryIO, media_type: str) -> Metadata:
    """The tags of a video or audio file as `Metadata.text` (`mp4:prompt`, `mp4:comment`, …)
    and its XMP packet; an empty `Metadata` for formats not read (yet)."""
    return Metadata()
