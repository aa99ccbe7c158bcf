"""CHAT_MAX_CONNECTIONS_PER_IP: one client address cannot hold more WebSockets open."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from websockets.asyncio.client import connect as ws_connect

from chat import services
from chat.realtime import limits
from chat.wire.errors import CloseCode
from tests.helpers.processes import DaphneServer
from tests.helpers.ws import communicator

pytestmark = pytest.mark.django_db(transaction=True)


async def open_from(address: str, token: str):
    comm = communicator("/ws/rooms/lobby/", token=token)
    comm.scope["client"] = (address, 40000)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    first = await comm.receive_json_from(timeout=5)
    return comm, first


async def test_a_third_connection_from_one_address_is_4429(embedded, settings, room, token):
    settings.CHAT_MAX_CONNECTIONS_PER_IP = 2
    a, _ = await open_from("203.0.113.1", token)
    b, _ = await open_from("203.0.113.1", token)

    c, refusal = await open_from("203.0.113.1", token)
    assert refusal["type"] == "error" and "per client address" in refusal["detail"]
    assert await c.receive_output(timeout=3) == {
        "type": "websocket.close",
        "code": CloseCode.TOO_MANY_CONNECTIONS,
    }
    other, ready = await open_from("198.51.100.2", token)
    assert ready["type"] == "ready"

    # Closing one frees its place.
    await a.disconnect()
    d, ready = await open_from("203.0.113.1", token)
    assert ready["type"] == "ready"
    for comm in (b, c, other, d):
        await comm.disconnect()
    assert limits.ADDRESSES.count("203.0.113.1") == 0


@pytest.mark.processes
def test_a_real_daphne_counts_the_peer_not_a_forwarded_header(live_env, room, user):
    token = services.issue_token(user=user)

    async def scenario(server):
        headers = {"Authorization": f"Bearer {token}"}
        kept = []
        for n in range(2):
            socket = await ws_connect(
                server.ws_url("/ws/rooms/lobby/"),
                additional_headers=headers | {"X-Forwarded-For": f"10.0.0.{n}"},
            )
            assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "ready"
            kept.append(socket)
        third = await ws_connect(
            server.ws_url("/ws/rooms/lobby/"),
            additional_headers=headers | {"X-Forwarded-For": "10.0.0.99"},
        )
        try:
            await asyncio.wait_for(third.recv(), 10)  # the error frame
            await asyncio.wait_for(third.recv(), 10)
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code
        for socket in kept:
            await socket.close()
        return code

    with DaphneServer(live_env | {"CHAT_MAX_CONNECTIONS_PER_IP": "2"}) as server:
        assert asyncio.run(scenario(server)) == 4429
