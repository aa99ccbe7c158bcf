"""What a file is, from its content: the chat's allow-list of upload types.

The name and the type a client claims are never believed: an HTML page named
``cat.png`` is text that looks like markup, and is refused; a PNG named ``notes.txt``
is a PNG. Raster images are opened with Pillow (``verify``, then a full decode for
the size), so a broken or disguised image is refused too. No Django, no storage: the
caller hands over a file object and gets a ``Detected`` or a ``ChatError``.

The list (docs/protocol.md repeats it):

    image/png, image/jpeg, image/gif, image/webp   shown inline, with a thumbnail
    application/pdf, application/zip,
    text/plain (UTF-8, not markup)                 offered as a download only

SVG and HTML are refused: both can carry script.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from chat.wire.errors import ChatError, ErrorCode

# Pillow's format name -> the served type and the stored file's extension.
IMAGE_TYPES = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
# Larger pictures are refused: decoding one for its thumbnail would take hundreds of
# megabytes (Pillow's own bomb check starts at 89 megapixels).
MAX_IMAGE_PIXELS = 40_000_000
# How much of a file the text and markup checks read.
SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Detected:
    """A file's type as the server serves it."""

    content_type: str
    extension: str
    width: int | None = None
    height: int | None = None

    @property
    def is_image(self) -> bool:
        return self.width is not None


def refused(detail: str) -> ChatError:
    return ChatError(ErrorCode.UNSUPPORTED_FILE, detail)


def detect(file: BinaryIO) -> Detected:
    """The type of ``file`` (read from the start; left at the start), or ``ChatError``
    ``unsupported_file`` saying why it is not accepted."""
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    file.seek(0)
    if not head:
        raise refused("the file is empty")
    if head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")) or (
        head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    ):
        return _image(file)
    if head.startswith(b"%PDF-"):
        return Detected("application/pdf", "pdf")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return Detected("application/zip", "zip")
    return _text(head)


def _image(file: BinaryIO) -> Detected:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                kind = image.format
                width, height = image.size
                if kind not in IMAGE_TYPES:
                    raise refused(f"{kind} images are not accepted")
                if width * height > MAX_IMAGE_PIXELS:
                    raise refused(f"the image is too large ({width}x{height} pixels)")
                image.verify()
            # verify() leaves the image unusable; a full decode finds truncated data.
            file.seek(0)
            with Image.open(file) as image:
                image.load()
    except ChatError:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        EOFError,
    ) as exc:
        raise refused(
            f"the image is damaged or not what it claims to be ({type(exc).__name__})"
        ) from None
    finally:
        file.seek(0)
    content_type, extension = IMAGE_TYPES[kind]
    return Detected(content_type, extension, width, height)


def _text(head: bytes) -> Detected:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Only the sniffed part's end may cut a character in two.
        if len(head) < SNIFF_BYTES or exc.reason != "unexpected end of data":
            raise refused("this type of file is not accepted") from None
        text = head[: exc.start].decode("utf-8")
    if any(ord(c) < 32 and c not in "\t\n\r\f" for c in text):
        raise refused("this type of file is not accepted")
    # Text that opens with a tag (HTML, SVG, XML) is markup a browser would render.
    start = text.lstrip("\ufeff \t\r\n\f")[:2]
    if len(start) == 2 and start[0] == "<" and (start[1].isalpha() or start[1] in "!?"):
        raise refused("HTML, SVG and XML files are not accepted")
    return Detected("text/plain", "txt")


def is_inline(content_type: str) -> bool:
    """Whether a file of this type may be shown in the page (raster images only)."""
    return content_type in {content for content, _ in IMAGE_TYPES.values()}
