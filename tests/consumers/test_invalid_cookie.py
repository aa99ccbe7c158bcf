"""A NUL in the session cookie of a WebSocket is refused with 4400, not a crash.

The session lookup would hand it to the database (PostgreSQL refuses NUL: an
error instead of a refusal). ``make test`` runs this on PostgreSQL too.
"""

import pytest
from channels.testing import WebsocketCommunicator

from chat.wire.errors import CloseCode

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


async def test_a_nul_in_the_session_cookie_is_4400(embedded, room):
    from chatsite.asgi import application

    # http.cookies unquotes "\000" inside a quoted value to a NUL character.
    cookie = b'sessionid="abcdefgh\\000ijkl"'
    comm = WebsocketCommunicator(application, "/ws/rooms/lobby/", headers=[(b"cookie", cookie)])
    connected, _ = await comm.connect(timeout=5)
    assert connected
    error = await comm.receive_json_from(timeout=3)
    assert error["type"] == "error" and "cookie" in error["detail"]
    assert await comm.receive_output(timeout=3) == {
        "type": "websocket.close",
        "code": CloseCode.BAD_REQUEST,
    }
    await comm.disconnect()
