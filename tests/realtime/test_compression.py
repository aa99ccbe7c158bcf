"""permessage-deflate when CHAT_WEBSOCKET_COMPRESSION is on: what is accepted, what is compressed."""

from __future__ import annotations

import asyncio
import json

import pytest
from autobahn.websocket.compress import PerMessageDeflateOffer
from websockets.asyncio.client import connect

from bench.wsclient import open_connection
from chat import services
from chat.realtime import compression
from tests.helpers.processes import DaphneServer


def test_a_deflate_offer_is_accepted_small_and_without_context_takeover():
    offer = PerMessageDeflateOffer(accept_no_context_takeover=True, accept_max_window_bits=True)

    accepted = compression.accept([offer])

    # The server's own side needs no announcing: a smaller window and no kept context
    # decode with any client's decompressor.
    assert (accepted.no_context_takeover, accepted.window_bits) == (True, compression.WINDOW_BITS)
    assert accepted.mem_level == compression.MEM_LEVEL
    response = accepted.get_extension_string()
    assert "client_no_context_takeover" in response
    assert f"client_max_window_bits={compression.WINDOW_BITS}" in response


def test_a_client_asking_for_a_smaller_window_gets_it():
    offer = PerMessageDeflateOffer(request_max_window_bits=9)
    accepted = compression.accept([offer])
    assert accepted.window_bits == 9
    assert "server_max_window_bits=9" in accepted.get_extension_string()


def test_no_deflate_offer_no_extension():
    assert compression.accept([]) is None


class Factory:
    def __init__(self) -> None:
        self.options: dict = {}

    def setProtocolOptions(self, **options):  # noqa: N802 - autobahn's name
        self.options.update(options)


def test_the_setting_switches_the_factory_option(settings):
    settings.CHAT_WEBSOCKET_COMPRESSION = False
    assert compression.enable(Factory()).options == {}

    settings.CHAT_WEBSOCKET_COMPRESSION = True
    assert compression.enable(Factory()).options == {
        "perMessageCompressionAccept": compression.accept
    }


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("on", [False, True], ids=["off", "on"])
def test_pages_go_compressed_and_broadcasts_stay_plain(live_env, make_user, make_room, on):
    user = make_user("deflater")
    room = make_room("deflate")
    for n in range(50):
        services.post_message(room=room, author=user, body=f"message {n} " + "words " * 20)
    (token,) = services.issue_tokens(users=[user])
    env = live_env | {"CHAT_WEBSOCKET_COMPRESSION": "true" if on else "false"}

    async def scenario(server: DaphneServer):
        url = server.ws_url(f"/ws/rooms/{room.slug}/")
        headers = {"Authorization": f"Bearer {token}"}
        # A browser-like client: it offers permessage-deflate and decodes it.
        lean, first = await open_connection(url, headers=headers, compress=True)
        on_wire = lean.received_bytes
        got: asyncio.Future = asyncio.get_running_loop().create_future()
        lean.on_text = lambda text: got.done() or got.set_result(text)
        async with connect(url, additional_headers=headers) as ws:
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            ready = json.loads(await asyncio.wait_for(ws.recv(), 10))
            before = lean.received_bytes
            await ws.send(json.dumps({"type": "message", "body": "short " * 20}))
            broadcast = await asyncio.wait_for(got, 10)
        # The broadcast is the only frame in between: sent as it is, not compressed.
        broadcast_wire = lean.received_bytes - before
        await lean.close()
        return extensions, ready, len(first.encode()), on_wire, broadcast, broadcast_wire

    with DaphneServer(env) as server:
        extensions, ready, text_bytes, wire_bytes, broadcast, broadcast_wire = asyncio.run(
            scenario(server)
        )

    assert ready["type"] == "ready" and len(ready["messages"]) == 50
    assert text_bytes > 5 * compression.MIN_BYTES
    assert json.loads(broadcast)["type"] == "message"
    assert len(broadcast.encode()) < broadcast_wire <= len(broadcast.encode()) + 4
    if on:
        assert "permessage-deflate" in extensions
        assert wire_bytes < text_bytes / 2  # handshake included
    else:
        assert extensions == ""
        assert wire_bytes > text_bytes
