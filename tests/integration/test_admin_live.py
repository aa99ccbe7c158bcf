"""Moderation in the admin reaches a client connected to another daphne process, live.

The moderator's request is handled here, in the test process (Django's test client,
posting the admin forms as a browser would); the client is connected to a daphne
child process; the only link between them is Redis (guarantees 5 and 6).
"""

import asyncio
import json

import pytest
import websockets
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from django.test import Client as HttpClient
from websockets.asyncio.client import connect

from chat import services
from chat.models import Message, ModerationAction
from chat.stores import history_cache
from chat.wire.errors import CloseCode
from tests.helpers.processes import DaphneServer

pytestmark = [pytest.mark.processes, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_env, redis_url, settings):
    """A daphne child and this process sharing one Redis (and one test database)."""
    settings.CHAT_REDIS_URL = redis_url
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": redis_url, "socket_timeout": 15}]},
        }
    }
    channel_layers.backends.clear()
    history_cache.reset()
    with DaphneServer(live_env | {"REDIS_URL": redis_url}) as server:
        yield server
    channel_layers.backends.clear()
    history_cache.reset()


@pytest.fixture
def admin_client(staff_user):
    client = HttpClient()
    client.force_login(staff_user)
    return client


class Frames:
    """A websockets connection read in the background; frames looked up by type."""

    def __init__(self, ws):
        self.ws = ws
        self.frames: list[dict] = []
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self):
        try:
            async for raw in self.ws:
                self.frames.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass  # close_code says how

    async def expect(self, type, timeout=2.0, **match):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            for frame in self.frames:
                if frame["type"] == type and all(frame.get(k) == v for k, v in match.items()):
                    return frame
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {type} {match} within {timeout}s: {self.frames[-5:]}")

    async def expect_close(self, code, timeout=2.0):
        await asyncio.wait_for(asyncio.shield(self.task), timeout)
        assert self.ws.close_code == code, f"closed with {self.ws.close_code}"


async def _open(server, token):
    ws = await connect(
        server.ws_url("/ws/rooms/lobby/"),
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=5,
    )
    frames = Frames(ws)
    await frames.expect("ready", timeout=5)
    return frames


async def test_admin_delete_reaches_another_process_within_a_second(
    site, room, user, other_user, admin_client
):
    message = await sync_to_async(services.post_message)(room=room, author=user, body="spam!")
    token = await sync_to_async(services.issue_token)(user=other_user)
    bob = await _open(site, token)
    response = await sync_to_async(admin_client.post)(
        "/admin/chat/message/",
        {"action": "delete_messages", "_selected_action": [message.message.pk], "reason": "spam"},
    )
    assert response.status_code == 302
    assert await bob.expect("deleted", timeout=1.0) == {
        "type": "deleted",
        "id": message.message.pk,
        "seq": 1,
        "change": 1,
    }
    await bob.ws.close()
    action = await ModerationAction.objects.aget(kind="delete")
    assert action.reason == "spam" and action.target_message_id == message.message.pk
    assert (await Message.objects.aget(pk=message.message.pk)).deleted_at is not None


async def test_admin_ban_closes_the_users_connection_on_another_process(
    site, room, user, admin_client
):
    token = await sync_to_async(services.issue_token)(user=user)
    alice = await _open(site, token)
    response = await sync_to_async(admin_client.post)(
        "/admin/chat/ban/add/",
        {"room": room.pk, "user": user.pk, "reason": "abuse", "until_0": "", "until_1": ""},
    )
    assert response.status_code == 302, response.content[:500]
    await alice.expect("error", timeout=1.0)
    await alice.expect_close(CloseCode.FORBIDDEN, timeout=1.0)
    again = Frames(
        await connect(
            site.ws_url("/ws/rooms/lobby/"), additional_headers={"Authorization": f"Bearer {token}"}
        )
    )
    assert "banned" in (await again.expect("error"))["detail"]
    await again.expect_close(CloseCode.FORBIDDEN)


async def test_admin_lock_reaches_another_process_as_a_room_frame(
    site, room, user, other_user, admin_client
):
    token = await sync_to_async(services.issue_token)(user=other_user)
    bob = await _open(site, token)
    response = await sync_to_async(admin_client.post)(
        "/admin/chat/room/",
        {"action": "lock", "_selected_action": [room.pk], "reason": "cool down"},
    )
    assert response.status_code == 302
    frame = await bob.expect("room", timeout=1.0)
    assert frame["room"]["locked"] is True
    await bob.ws.send(json.dumps({"type": "message", "body": "hi", "client_id": "x"}))
    assert (await bob.expect("error", client_id="x"))["code"] == "room_locked"
    await bob.ws.close()
