"""Every stored image is cleaned first (DESIGN §11): decoded in full, then re-encoded with no
metadata but the EXIF orientation — GPS positions (a phone photo often carries the
reporter's home), camera serials, XMP, comments never reach the media store.

``backend.media.store_bytes`` calls ``clean_image`` for every image, whichever path brought it
(the chat's media job, a mini-program upload, staff photos of a resolved case), so there is
one place to get this right. Decoding in full also proves the bytes are an image: a renamed
text file, a truncated file or a decompression bomb is refused here with a clear message.
"""
from __future__ import annotations

import io
import struct
import warnings

from PIL import Image, UnidentifiedImageError

from backend.errors import DomainError

MAX_PIXELS = 50_000_000  # ≈ a 50-megapixel phone photo
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
ORIENTATION = 0x0112


class BadImage(DomainError):
    """Bytes that are not an image we store."""


def clean_image(data: bytes, formats: tuple[str, ...] | None = None) -> tuple[bytes, str]:
    """(cleaned bytes, mime). Raises BadImage for anything that is not a whole, sane image of
    ``formats`` (Pillow format names; default: every one in FORMATS)."""
    formats = tuple(formats or FORMATS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(formats))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise Image.DecompressionBombError("too many pixels")
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise BadImage("image_too_large", "图片像素太多了，请压缩后再上传") from None
        except UnidentifiedImageError:
            names = "、".join("WebP" if f == "WEBP" else f for f in formats)
            raise BadImage("not_an_image", f"这不是一张 {names} 图片") from None
        except (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, TypeError, MemoryError):
            raise BadImage("broken_image", "图片已损坏，无法打开，请重新拍摄") from None
    fmt = image.format
    orientation = image.getexif().get(ORIENTATION)
    icc = image.info.get("icc_profile")
    image.info = {}  # nothing of the original's metadata is carried over implicitly
    options: dict = {}
    if isinstance(orientation, int) and 2 <= orientation <= 8:
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        options["exif"] = exif.tobytes()
    if icc and fmt != "GIF":
        options["icc_profile"] = icc
    if fmt == "JPEG":
        if image.mode not in ("L", "RGB", "CMYK"):
            image = image.convert("RGB")
        options.update(quality=90, optimize=True)
    elif fmt == "WEBP":
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA")
        options.update(quality=90)
    elif fmt == "GIF":
        options.pop("exif", None)
    out = io.BytesIO()
    try:
        image.save(out, format=fmt, **options)
    except (OSError, ValueError) as exc:
        raise BadImage("broken_image", "图片无法处理，请换一张") from exc
    return out.getvalue(), FORMATS[fmt]
