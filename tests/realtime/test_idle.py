"""CHAT_IDLE_TIMEOUT: a WebSocket whose client sends no whole frame is closed, even one
that trickles a frame byte by byte; a client that keeps talking stays."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time

import pytest

from chat import services
from chat.realtime import idle
from tests.helpers.processes import DaphneServer
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)

ROOM = "/ws/rooms/lobby/"


def test_sweep_interval_is_a_tenth_within_bounds():
    assert idle.sweep_interval(3600) == 30.0
    assert idle.sweep_interval(10) == 1.0
    assert idle.sweep_interval(1) == 0.2


async def test_an_idle_connection_closes_and_a_talking_one_stays(embedded, settings, room, token):
    settings.CHAT_IDLE_TIMEOUT = 1
    async with connect(ROOM, token=token) as quiet, connect(ROOM, token=token) as talker:
        deadline = time.monotonic() + 5
        closed = False
        while time.monotonic() < deadline and not closed:
            await talker.send("ping")
            await talker.expect("pong")
            closed = not await quiet.communicator.receive_nothing(0.2)
        error = await quiet.receive()
        assert error["type"] == "error" and "no frame from the client" in error["detail"]
        assert await quiet.communicator.receive_output(1) == {
            "type": "websocket.close",
            "code": idle.IDLE_CLOSE_CODE,
        }
        await talker.send("ping")
        assert await talker.expect("pong")


async def test_a_zero_timeout_disables_it(embedded, settings, room, token):
    settings.CHAT_IDLE_TIMEOUT = 0
    async with connect(ROOM, token=token):
        assert asyncio.get_running_loop() not in idle._sweepers


def _handshake(port: int, token: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {ROOM} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(4096)
    assert response.startswith(b"HTTP/1.1 101")
    return sock


@pytest.mark.processes
def test_a_trickling_client_cannot_hold_a_real_daphne_open(live_env, room, user):
    token = services.issue_token(user=user)
    with DaphneServer(live_env | {"CHAT_IDLE_TIMEOUT": "1"}) as server:
        sock = _handshake(server.port, token)
        # A masked text frame of 100 bytes, sent one byte every 0.1 s: never whole.
        mask = os.urandom(4)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b" " * 100))  # valid UTF-8
        frame = bytes([0x81, 0x80 | 100]) + mask + payload
        received = b""
        ended = False
        sock.settimeout(0.1)
        started = time.monotonic()
        for byte in frame:
            try:
                sock.sendall(bytes([byte]))
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:  # reset: the server closed with our bytes unread
                ended = True
                break
            received += chunk
            if not chunk or b"no frame from the client" in received:  # EOF, or told why
                ended = True
                break
        held = time.monotonic() - started
        sock.close()

    assert ended, received
    assert held < 8  # closed long before the 10 s the trickle would take
