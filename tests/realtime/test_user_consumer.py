"""``chat.realtime.user_consumer``: ``/ws/me/`` with ``?lobby=1`` watches the lobby's
rooms too; signing out closes it like a room socket."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from chat import services
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)


async def test_the_lobby_socket_gets_activity_of_rooms_not_in_the_sidebar(
    mode, room, user, other_user, token
):
    async with (
        connect("/ws/me/?lobby=1", token=token) as lobby,
        connect("/ws/me/", token=token) as plain,
    ):
        assert lobby.ready["rooms"] == [] == plain.ready["rooms"]
        await sync_to_async(services.post_message)(room=room, author=other_user, body="hi")
        activity = await lobby.expect("activity", room="lobby")
        assert activity["seq"] == 1
        await plain.expect_nothing(0.3)


async def test_signing_out_closes_the_sidebar_socket(mode, room, user, token):
    async with connect("/ws/me/", token=token) as me:
        await sync_to_async(services.sign_out_connections)(user_id=user.pk)
        await me.expect_close(4401)


async def test_a_revoked_token_closes_the_sidebar_socket(mode, room, user, token):
    from chat.models import ApiToken

    async with connect("/ws/me/", token=token) as me:
        await sync_to_async(services.revoke_tokens)(tokens=ApiToken.objects.filter(user=user))
        await me.expect_close(4401)


async def test_sidebar_sockets_are_capped_per_user_with_4429(mode, room, user, token, settings):
    """Every chat page opens one: without a cap a user could open them without end."""
    from tests.helpers.ws import communicator

    settings.CHAT_MAX_CONNECTIONS_PER_USER = 2  # the sidebar cap follows it when unset
    async with (
        connect("/ws/me/", token=token),
        connect("/ws/me/?lobby=1", token=token) as second,
    ):
        refused = communicator("/ws/me/", token=token)
        assert (await refused.connect(timeout=5))[0]
        error = await refused.receive_json_from(timeout=3)
        assert error["type"] == "error" and "2" in error["detail"]
        assert await refused.receive_output(timeout=3) == {
            "type": "websocket.close",
            "code": 4429,
        }
        await refused.disconnect()
        # Room sockets are counted apart: a page is one of each.
        async with (
            connect("/ws/rooms/lobby/", token=token),
            connect("/ws/rooms/lobby/", token=token),
        ):
            pass
        await second.close()
        async with connect("/ws/me/", token=token) as again:
            assert again.ready["type"] == "ready"
