"""Decoding images with limits: no decompression bombs, no silent truncation."""

from __future__ import annotations

import io
import warnings

from PIL import Image
from pillow_heif import register_heif_opener

register_heif_opener()
# Our own pixel check (below) replaces Pillow's global guard so the limit is per scan.
Image.MAX_IMAGE_PIXELS = None


class DecodeError(Exception):
    """An image that cannot be decoded safely; the message says why."""


FAST_MIN_SIDE = 512


def open_image(data: bytes, max_pixels: int, reduce_to: int | None = None) -> Image.Image:
    """Open and fully load the first frame of an image, refusing ones over `max_pixels`.

    `reduce_to`: let a JPEG decode at 1/2, 1/4 or 1/8 scale in the DCT domain (Pillow
    `draft`), as long as both sides stay >= `reduce_to`. Much faster than a full decode; the
    result is not bit-identical to it, so callers record the hash as `fast`.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise DecodeError(
                    f"image is {width}x{height} = {width * height} pixels, over the limit of "
                    f"{max_pixels} (possible decompression bomb); not decoded"
                )
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)
            image.info["original_size"] = (width, height)
            if reduce_to and image.format == "JPEG" and min(width, height) >= 2 * reduce_to:
                image.draft(image.mode, (reduce_to, reduce_to))
            image.load()
    except DecodeError:
        raise
    except Image.DecompressionBombError as e:
        raise DecodeError(f"decompression bomb: {e}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise DecodeError(f"corrupt or truncated image: {e}") from None
    except Exception as e:  # decoders raise a zoo of types on hostile input
        raise DecodeError(f"image decoder failed: {type(e).__name__}: {e}") from None
    return image
