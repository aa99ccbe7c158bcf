"""Types by content: the allow-list, disguised files, damaged images."""

import io

import pytest

from chat import file_types
from chat.wire.errors import ChatError, ErrorCode
from tests.helpers.files import HTML, PDF, SVG, TEXT, image_bytes, zip_bytes


def detect(data: bytes) -> file_types.Detected:
    return file_types.detect(io.BytesIO(data))


@pytest.mark.parametrize(
    ("kind", "content_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_raster_images_are_recognised_with_their_size(kind, content_type):
    found = detect(image_bytes(kind, (30, 20)))
    assert (found.content_type, found.width, found.height) == (content_type, 30, 20)
    assert found.is_image and file_types.is_inline(content_type)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(PDF, "application/pdf"), (zip_bytes(), "application/zip"), (TEXT, "text/plain")],
    # Fixed ids: a zip embeds the time, and pytest-xdist workers must collect the same names.
    ids=["pdf", "zip", "text"],
)
def test_documents_are_recognised_and_never_inline(data, content_type):
    found = detect(data)
    assert found.content_type == content_type
    assert not found.is_image and not file_types.is_inline(content_type)


@pytest.mark.parametrize(
    "data",
    [HTML, SVG, b"  \n<html><p>hi", b"\xef\xbb\xbf<?xml version='1.0'?><svg/>", b"<!-- x -->"],
)
def test_markup_is_refused(data):
    with pytest.raises(ChatError) as refused:
        detect(data)
    assert refused.value.code == ErrorCode.UNSUPPORTED_FILE


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"MZ\x90\x00\x03\x00\x00\x00",  # a Windows program
        b"\x00\x01\x02binary",
        image_bytes("PNG")[:60],  # truncated: the header is fine, the data is not
        b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10,
        image_bytes("BMP"),  # an image type outside the list
    ],
)
def test_other_and_damaged_files_are_refused(data):
    with pytest.raises(ChatError) as refused:
        detect(data)
    assert refused.value.code == ErrorCode.UNSUPPORTED_FILE


def test_text_that_only_mentions_a_tag_is_text():
    assert detect(b"use <b> for bold\n").content_type == "text/plain"


def test_an_image_with_too_many_pixels_is_refused(monkeypatch):
    monkeypatch.setattr(file_types, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ChatError, match="too large"):
        detect(image_bytes("PNG", (20, 20)))


def test_text_cut_inside_a_character_at_the_sniff_limit_is_text():
    data = b"a" * (file_types.SNIFF_BYTES - 1) + "é".encode()  # the é is cut in two
    assert detect(data).content_type == "text/plain"
