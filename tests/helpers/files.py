"""Files for upload tests: real images made with Pillow, and disguised ones."""

from __future__ import annotations

import io
import zipfile

from PIL import Image

HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
TEXT = "notes: ünïcödé\nline two\n".encode()


def image_bytes(kind: str = "PNG", size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    """An image of ``size`` in Pillow format ``kind``."""
    out = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else (200, 30, 30, 128)).save(out, kind)
    return out.getvalue()


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.txt", "hello")
    return out.getvalue()
