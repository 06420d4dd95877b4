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

    `reduce_to`: decode a colour or grey JPEG the fast way: at 1/2, 1/4 or 1/8 scale in the
    DCT domain (Pillow `draft`) while both sides stay >= `reduce_to`, and, for colour, as
    YCbCr (no colour conversion: JFIF's Y is PDQ's luma). Not bit-identical to the full
    decode, so hashes of it are labelled `fast`. `info["original_size"]` keeps the true size.
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
            if reduce_to and image.format == "JPEG" and image.mode in ("RGB", "L"):
                target = (reduce_to, reduce_to) if min(width, height) >= 2 * reduce_to else None
                image.draft("YCbCr" if image.mode == "RGB" else "L", target or (width, height))
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
