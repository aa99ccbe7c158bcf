"""A DM over the WebSocket: its members get in, anyone else is closed with 4403."""

import pytest
from asgiref.sync import sync_to_async

from chat import direct
from chat.wire.errors import CloseCode
from tests.helpers.ws import communicator, connect

pytestmark = pytest.mark.django_db(transaction=True)


async def test_members_enter_a_dm_and_others_are_4403(
    mode, user, other_user, make_user, make_token, token
):
    dm = await sync_to_async(direct.open_dm)(by=user, users=[other_user])
    async with connect(f"/ws/rooms/{dm.slug}/", token=token) as alice:
        assert alice.ready["room"]["slug"] == dm.slug
    carol = await sync_to_async(make_user)("carol")
    comm = communicator(f"/ws/rooms/{dm.slug}/", token=await sync_to_async(make_token)(carol))
    connected, _ = await comm.connect(timeout=5)
    assert connected
    error = await comm.receive_json_from(timeout=3)
    assert error["code"] == "forbidden"
    assert await comm.receive_output(timeout=3) == {
        "type": "websocket.close",
        "code": CloseCode.FORBIDDEN,
    }
    await comm.disconnect()
