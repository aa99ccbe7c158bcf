"""A WebSocket to a path that is no room is refused like an unknown room (4404), not a 500.

Each one used to answer HTTP 500 and log a 19-line traceback.
"""

from __future__ import annotations

import asyncio

import pytest
import websockets
from channels.testing import WebsocketCommunicator
from websockets.asyncio.client import connect

from chat.wire.errors import CloseCode
from tests.helpers.processes import DaphneServer
from tests.helpers.wait import wait_until

PATHS = ["/ws/rooms/../", "/ws/rooms/a%2Fb/", "/ws/rooms/ünï/", "/ws/nope/", "/ws/rooms/x/y/"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", PATHS)
async def test_unknown_paths_are_4404(path):
    from chatsite.asgi import application

    comm = WebsocketCommunicator(application, path)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    error = await comm.receive_json_from(timeout=3)
    assert error["type"] == "error" and error["detail"] == "no such room"
    assert await comm.receive_output(timeout=3) == {
        "type": "websocket.close",
        "code": CloseCode.NO_SUCH_ROOM,
    }
    await comm.disconnect()


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_a_real_daphne_refuses_them_with_one_log_line_each(live_env):
    async def close_code(server, path) -> int | None:
        async with connect(server.ws_url(path)) as socket:
            try:
                while True:
                    await asyncio.wait_for(socket.recv(), 10)
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None

    with DaphneServer(live_env) as server:
        codes = [asyncio.run(close_code(server, path)) for path in ["/ws/nope/", "/ws/rooms/../"]]
        wait_until(lambda: server.output().count("refused code=4404") >= 2, message="log lines")
        output = server.output()

    assert codes == [4404, 4404]
    assert "Traceback" not in output
    assert output.count("refused code=4404") == 2
