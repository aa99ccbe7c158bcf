"""autobahn's compressor is let go after a compressed message (no context takeover)."""

from __future__ import annotations

import zlib
from types import SimpleNamespace

from autobahn.websocket.compress_deflate import PerMessageDeflate

from chat.realtime.internals import deflate


def pmce(*, server_no_context_takeover: bool) -> PerMessageDeflate:
    return PerMessageDeflate(True, server_no_context_takeover, True, 10, 10, 4)


def test_the_contract_holds_for_the_installed_autobahn():
    deflate.DROP_COMPRESSOR.reset()
    assert deflate.DROP_COMPRESSOR.ok()


def test_the_compressor_is_dropped_and_made_anew_for_the_next_message():
    extension = pmce(server_no_context_takeover=True)
    extension.start_compress_message()
    first = extension.compress_message_data(b"hello hello hello") + extension.end_compress_message()
    protocol = SimpleNamespace(_perMessageCompress=extension)

    deflate.drop_compressor(protocol)

    assert extension._compressor is None
    extension.start_compress_message()
    again = extension.compress_message_data(b"hello hello hello") + extension.end_compress_message()
    assert again == first
    assert zlib.decompressobj(-10).decompress(again + b"\x00\x00\xff\xff") == b"hello hello hello"


def test_with_context_takeover_the_compressor_is_kept():
    extension = pmce(server_no_context_takeover=False)
    extension.start_compress_message()
    protocol = SimpleNamespace(_perMessageCompress=extension)

    deflate.drop_compressor(protocol)

    assert extension._compressor is not None


def test_a_connection_without_compression_is_left_alone():
    deflate.drop_compressor(SimpleNamespace(_perMessageCompress=None))
