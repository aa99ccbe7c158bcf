"""Removing a member of a private room from its page closes their connection on
another daphne process at once (4403, as a ban does), and keeps them out after.

The moderator's request is handled here (Django's test client posting the room
page's form, as the browser does); the member is connected to a daphne child; the
only link between them is Redis.
"""

import pytest
from asgiref.sync import sync_to_async
from django.test import Client as HttpClient
from websockets.asyncio.client import connect

from chat import membership, services
from chat.models import ModerationAction
from chat.wire.errors import CloseCode
from tests.integration.test_admin_live import Frames, site  # noqa: F401 - the fixture

pytestmark = [pytest.mark.processes, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _setup(user, other_user):
    room = services.create_room(slug="secret", title="Secret", by=user, is_private=True)
    membership.add_member(room=room, user=other_user, by=user)
    client = HttpClient()
    client.force_login(user)
    return room, client, services.issue_token(user=other_user)


async def _open(server, token):
    ws = await connect(
        server.ws_url("/ws/rooms/secret/"),
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=5,
    )
    frames = Frames(ws)
    await frames.expect("ready", timeout=5)
    return frames


async def test_removing_a_member_closes_their_connection_on_another_process(
    site,  # noqa: F811
    user,
    other_user,
):
    room, moderator, token = await sync_to_async(_setup)(user, other_user)
    bob = await _open(site, token)
    response = await sync_to_async(moderator.post)("/rooms/secret/members/bob/remove")
    assert response.status_code == 200, response.content[:300]
    error = await bob.expect("error", timeout=1.0)
    assert error["detail"] == "you were removed from this room"
    await bob.expect_close(CloseCode.FORBIDDEN, timeout=1.0)
    again = Frames(
        await connect(
            site.ws_url("/ws/rooms/secret/"),
            additional_headers={"Authorization": f"Bearer {token}"},
        )
    )
    assert "private" in (await again.expect("error"))["detail"]
    await again.expect_close(CloseCode.FORBIDDEN)
    action = await ModerationAction.objects.aget(kind="remove")
    assert action.actor_id == user.pk and action.target_user_id == other_user.pk


async def test_a_member_who_stays_is_not_closed(site, user, other_user, make_user):  # noqa: F811
    room, moderator, token = await sync_to_async(_setup)(user, other_user)
    carol = await sync_to_async(make_user)("carol")
    await sync_to_async(membership.add_member)(room=room, user=carol, by=user)
    bob = await _open(site, token)
    response = await sync_to_async(moderator.post)("/rooms/secret/members/carol/remove")
    assert response.status_code == 200
    # bob's connection goes on: a message posted after the removal reaches him.
    await sync_to_async(services.post_message)(room=room, author=user, body="still here?")
    assert (await bob.expect("message", timeout=2.0))["body"] == "still here?"
    assert bob.ws.close_code is None
    await bob.ws.close()
