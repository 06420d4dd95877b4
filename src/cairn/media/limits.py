"""Limits that keep hostile input (bombs, deep nesting, huge members) from sinking a scan."""

from __future__ import annotations

from dataclasses import asdict, dataclass

MiB = 1 << 20


@dataclass(frozen=True, slots=True)
class Limits:
    max_pixels: int = 100_000_000  # one decoded frame, picture or video; Pillow's is 89M
    max_video_frames: int = 1_000_000  # frames decoded per video: 9.3 h at 30 fps
    max_video_seconds: float = 86_400.0  # of a video's timeline hashed (its timestamps)
    max_archive_depth: int = 5  # a.zip!/b.zip!/c.zip! ... deeper members are not opened
    max_member_size: int = 512 * MiB  # one archive member, decompressed, held in memory
    max_archive_total: int = 8 * 1024 * MiB  # all members of one archive, decompressed
    max_ratio: int = 200  # decompressed / compressed, for members over ratio_floor
    ratio_floor: int = 16 * MiB  # smaller members may compress well without being a bomb
    max_members: int = 200_000  # entries of one archive
    max_image_bytes: int = 512 * MiB  # larger "images" are hashed but not decoded

    def to_dict(self) -> dict:
        return asdict(self)
