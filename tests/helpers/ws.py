"""A WebSocket test client over channels' ``WebsocketCommunicator`` (full ASGI stack)."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from typing import Any

from channels.testing import WebsocketCommunicator

from chat.wire.errors import CloseCode


class Client:
    """Frames as dicts; every wait has a timeout."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.ready: dict[str, Any] | None = None
        self.seen: list[dict[str, Any]] = []  # every frame received, in order
        self.unclaimed: list[dict[str, Any]] = []  # received, not yet returned by expect()

    async def send(self, type: str, **fields: Any) -> None:
        await self.communicator.send_to(text_data=json.dumps({"type": type, **fields}))

    async def send_raw(self, text: str | None = None, data: bytes | None = None) -> None:
        await self.communicator.send_to(text_data=text, bytes_data=data)

    async def receive(self, timeout: float = 3) -> dict[str, Any]:
        output = await self.communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            raise ConnectionClosed(output.get("code"))
        frame = json.loads(output["text"])
        self.seen.append(frame)
        return frame

    @staticmethod
    def _matches(frame: dict[str, Any], type: str, match: dict[str, Any]) -> bool:
        return frame["type"] == type and all(frame.get(k) == v for k, v in match.items())

    async def expect(self, type: str, timeout: float = 3, **match: Any) -> dict[str, Any]:
        """Return the first frame of ``type`` (with matching fields), received or arriving.

        Frames of other types stay available to later ``expect`` calls, in order.
        """
        for index, frame in enumerate(self.unclaimed):
            if self._matches(frame, type, match):
                return self.unclaimed.pop(index)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"no {type} frame {match} within {timeout}s; saw {self.seen[-5:]}"
                )
            frame = await self.receive(remaining)
            if self._matches(frame, type, match):
                return frame
            self.unclaimed.append(frame)

    async def expect_nothing(self, timeout: float = 0.3) -> None:
        assert await self.communicator.receive_nothing(timeout), "unexpected frame"

    async def expect_close(self, code: int, timeout: float = 3) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            output = await self.communicator.receive_output(max(0.01, deadline - loop.time()))
            if output["type"] == "websocket.close":
                assert output.get("code") == code, (
                    f"closed with {output.get('code')}, expected {code}"
                )
                return
            self.seen.append(json.loads(output["text"]))

    async def close(self) -> None:
        await self.communicator.disconnect()


class ConnectionClosed(Exception):
    def __init__(self, code: int | None) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


def communicator(
    path: str, *, user=None, token: str | None = None, origin: str | None = None
) -> WebsocketCommunicator:
    from chatsite.asgi import application

    headers = []
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    if origin is not None:
        # A browser sends Host too; the Origin check compares scheme, host and port with it.
        headers.append((b"origin", origin.encode()))
        headers.append((b"host", b"127.0.0.1:8000"))
    comm = WebsocketCommunicator(application, path, headers=headers)
    if user is not None:
        comm.scope["user"] = user  # as AuthMiddleware would; the session stack keeps it
    return comm


@asynccontextmanager
async def connect(
    path: str,
    *,
    user=None,
    token: str | None = None,
    origin: str | None = None,
    expect_ready: bool = True,
):
    """Open a connection; yield a ``Client`` after ``ready`` (or the refusal close)."""
    comm = communicator(path, user=user, token=token, origin=origin)
    connected, _ = await comm.connect(timeout=5)
    assert connected, "the server must accept before closing"
    client = Client(comm)
    try:
        if expect_ready:
            client.ready = await client.expect("ready", timeout=5)
        yield client
    finally:
        await comm.disconnect()


__all__ = ["Client", "CloseCode", "ConnectionClosed", "communicator", "connect"]
