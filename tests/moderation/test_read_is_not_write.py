"""Reading a private room does not grant writing in it.

Staff with only ``view_message`` could post in every private room.
"""

from __future__ import annotations

import pytest

from chat import services
from chat.wire.errors import ChatError, ErrorCode
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def private(make_room, user):
    room = make_room("secret", is_private=True)
    room.members.add(user)
    return room


def post(room, author, body="hello"):
    return services.post_messages(
        [services.PostRequest(room_id=room.pk, author=author, body=body, client_id=None)]
    )[0]


def test_a_reader_cannot_post_a_member_and_a_moderator_can(private, user, make_staff):
    reader = make_staff("reader", "view_message")
    moderator = make_staff("mod", "view_message", "change_message")

    refused = post(private, reader)
    assert isinstance(refused, ChatError) and refused.code == ErrorCode.FORBIDDEN
    assert not isinstance(post(private, user), ChatError)
    assert not isinstance(post(private, moderator), ChatError)
    assert private.messages.count() == 2


async def test_over_the_socket_a_reader_reads_but_cannot_write(mode, private, make_staff):  # noqa: F811
    from asgiref.sync import sync_to_async

    reader = await sync_to_async(make_staff)("reader", "view_message")
    token = await sync_to_async(services.issue_token)(user=reader)
    async with connect("/ws/rooms/secret/", token=token) as client:
        await client.send("message", body="sneaky", client_id="r1")
        error = await client.expect("error", client_id="r1")
    assert error["code"] == "forbidden"
    assert not await private.messages.aexists()
