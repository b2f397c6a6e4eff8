"""Image files -> bytes a vision model can take, or a reason a person can act on.

A vision server given a file it cannot decode answers with an opaque HTTP 500 after seconds of
waiting (or, for a huge image, runs out of memory), so every image is checked here first: its
magic bytes, its declared size, and a full decode (which is what catches a truncated file).
Large-but-acceptable images are scaled down before sending: vision encoders resize to well under
2048 px anyway, and a smaller upload is faster and stays within cloud APIs' size limits.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from kg_pipeline.errors import KgError

# Magic bytes -> (Pillow format, MIME type). WebP is "RIFF<size>WEBP": checked separately.
_MAGIC: dict[bytes, tuple[str, str]] = {
    b"\x89PNG\r\n\x1a\n": ("PNG", "image/png"),
    b"\xff\xd8\xff": ("JPEG", "image/jpeg"),
    b"GIF87a": ("GIF", "image/gif"),
    b"GIF89a": ("GIF", "image/gif"),
}
SUPPORTED = "PNG, JPEG, GIF, WebP"
# Every vision server reads PNG and JPEG; Ollama's image decoder does not read WebP, and GIF
# animation means nothing to a model. Those two are sent as PNG (their first frame).
_SENT_AS_IS = frozenset({"PNG", "JPEG"})

MAX_PIXELS = 50_000_000
MAX_SIDE = 2048
MAX_FILE_BYTES = 100 * 1024 * 1024
_RESIZE_HINT = "downscale it, e.g. `convert in.png -resize 4000x4000 out.png`"


class BadImage(KgError, ValueError):
    """The file cannot be sent to a vision model; the message says why and what to do."""


@dataclass(frozen=True)
class PreparedImage:
    """The bytes to send, and what was done to get them (reported with the result)."""

    data: bytes
    mime: str
    sha256: str  # of the file as given, not of what is sent: it identifies the source
    width: int
    height: int
    sent_width: int
    sent_height: int
    notes: list[str] = field(default_factory=list)


def sniff_format(head: bytes) -> tuple[str, str] | None:
    """(Pillow format, MIME type) from the first bytes, or None for anything else."""
    for magic, found in _MAGIC.items():
        if head.startswith(magic):
            return found
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ("WEBP", "image/webp")
    return None


def _describe_start(head: bytes) -> str:
    if not head:
        return "it is empty"
    text = head[:16].decode("ascii", errors="replace")
    shown = text if text.isprintable() else head[:8].hex(" ")
    return f"starts with {shown!r}"


def check_size(width: int, height: int, max_pixels: int = MAX_PIXELS) -> None:
    if width * height > max_pixels:
        raise BadImage(
            f"{width}x{height} is {width * height / 1e6:.0f} megapixels, over the limit of "
            f"{max_pixels / 1e6:.0f}; {_RESIZE_HINT}"
        )


def _open(data: bytes, pillow_format: str) -> Image.Image:
    """Open lazily (the header only); Pillow's own decompression-bomb check is replaced by
    ``check_size``, whose message names the fix."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data), formats=[pillow_format])
        except Image.DecompressionBombError as exc:
            raise BadImage(
                f"far over the {MAX_PIXELS / 1e6:.0f}-megapixel limit; {_RESIZE_HINT}"
            ) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise BadImage(f"not a readable {pillow_format} file ({exc}); re-export it") from exc


def _decode(data: bytes, pillow_format: str, draft_side: int) -> Image.Image:
    """Decode every pixel: a truncated or corrupt file fails here, not at the server."""
    image = _open(data, pillow_format)
    try:
        image.verify()  # PNG: chunk checksums; cheap, and names the damage
        image = _open(data, pillow_format)  # verify() leaves the image unusable
        if pillow_format == "JPEG":
            # JPEG can decode at 1/2, 1/4, 1/8 scale directly: a big photo never fills memory.
            image.draft("RGB", (draft_side, draft_side))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImage(
            f"truncated or corrupt {pillow_format} file ({exc}); re-export or re-download it"
        ) from exc
    return image


def _encode(image: Image.Image, pillow_format: str) -> tuple[bytes, str]:
    out = io.BytesIO()
    if pillow_format == "JPEG":
        image.convert("RGB").save(out, "JPEG", quality=90)
        return out.getvalue(), "image/jpeg"
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    image.convert("RGBA" if has_alpha else "RGB").save(out, "PNG", optimize=False)
    return out.getvalue(), "image/png"


def prepare_image(
    path: Path, max_side: int = MAX_SIDE, max_pixels: int = MAX_PIXELS
) -> PreparedImage:
    """Check ``path`` and return the bytes to send; raises ``BadImage`` with the reason."""
    if not path.is_file():
        raise BadImage("no such file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise BadImage(
            f"{size:,} bytes is over the {MAX_FILE_BYTES:,}-byte limit for an image; {_RESIZE_HINT}"
        )
    data = path.read_bytes()
    sniffed = sniff_format(data[:16])
    if sniffed is None:
        raise BadImage(f"not an image ({_describe_start(data[:16])}); supported: {SUPPORTED}")
    pillow_format, mime = sniffed
    header = _open(data, pillow_format)
    width, height = header.size
    check_size(width, height, max_pixels)
    image = _decode(data, pillow_format, max_side)
    notes = []
    needs_resize = max(width, height) > max_side
    if needs_resize:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        notes.append(f"downscaled from {width}x{height} to {image.width}x{image.height}")
    if pillow_format not in _SENT_AS_IS:
        notes.append(f"sent as PNG (was {pillow_format})")
    if needs_resize or pillow_format not in _SENT_AS_IS:
        sent, mime = _encode(image, pillow_format)
    else:
        sent = data
    return PreparedImage(
        data=sent,
        mime=mime,
        sha256=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
        sent_width=image.width,
        sent_height=image.height,
        notes=notes,
    )
