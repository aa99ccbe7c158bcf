import pytest

from chat.models import Message
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)


async def test_message_is_acked_and_broadcast_to_the_room(room, alice_token, bob_token):
    async with (
        connect("/ws/rooms/general/", token=alice_token) as alice,
        connect("/ws/rooms/general/", token=bob_token) as bob,
    ):
        assert alice.ready["room"]["slug"] == "general"
        assert alice.ready["messages"] == []
        await alice.expect("join", user="bob")
        await alice.send("message", body="hello", client_id="c1")
        ack = await alice.expect("ack", client_id="c1")
        assert ack["seq"] == 1
        got = await bob.expect("message")
        assert got["body"] == "hello"
        assert got["user"] == "alice"
        assert got["seq"] == 1
        assert got["id"] == ack["id"]
    assert await Message.objects.acount() == 1
