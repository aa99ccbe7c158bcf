"""The real server: ``chatsite.serve`` in child processes, spoken to over TCP.

Covers what only a real daphne shows: /healthz in both modes, the frame limit that
serve.py passes to daphne, and idle connections on the Redis layer outliving
redis-py's default 5 s socket timeout (channels_redis#422).
"""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.request

import pytest
from channels_redis.core import RedisChannelLayer
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from chat import services
from tests.helpers.child import settings_with
from tests.helpers.processes import DaphneServer

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]

# Longer than redis-py 8's default socket_timeout (5 s) and the layer's 5 s blocking
# pop together, with margin: before the fix idle consumers died every 5 s.
IDLE_SECONDS = 16


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def frame_of_type(ws, kind: str, timeout: float = 5) -> dict:
    """Read frames until one of type ``kind`` arrives."""
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == kind:
                return frame


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_healthz_and_metrics_in_embedded_mode(live_env):
    with DaphneServer(live_env) as server:
        assert get_json(f"{server.url}/healthz") == (
            200,
            {"status": "ok", "database": "ok", "redis": "not configured"},
        )
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as response:
            assert b"chat_connections" in response.read()

        # A graceful exit (status 0 after the drain), not the SIGKILL that stop()
        # sends after its timeout (status -9).
        assert server.stop(signal.SIGTERM) == 0
        assert "shutdown: drained" in server.output()


@pytest.mark.redis
def test_healthz_in_redis_mode(live_env, redis_url):
    with DaphneServer(live_env | {"REDIS_URL": redis_url}) as server:
        assert get_json(f"{server.url}/healthz") == (
            200,
            {"status": "ok", "database": "ok", "redis": "ok"},
        )


def test_a_frame_larger_than_chat_max_frame_bytes_drops_the_connection(live_env, user, make_room):
    room = make_room("limits")
    token = services.issue_token(user=user)
    with DaphneServer(live_env | {"CHAT_MAX_FRAME_BYTES": "2048"}) as server:
        asyncio.run(send_too_big(server, room.slug, token))


async def send_too_big(server: DaphneServer, slug: str, token: str) -> None:
    async with connect(server.ws_url(f"/ws/rooms/{slug}/"), additional_headers=bearer(token)) as ws:
        await frame_of_type(ws, "ready")
        await ws.send(json.dumps({"type": "message", "body": "small", "client_id": "a"}))
        assert (await frame_of_type(ws, "ack"))["client_id"] == "a"

        await ws.send(json.dumps({"type": "message", "body": "x" * 3000, "client_id": "b"}))
        with pytest.raises(ConnectionClosed) as closed:
            await frame_of_type(ws, "ack")
        assert closed.value.rcvd is None or closed.value.rcvd.code == 1009


@pytest.mark.redis
@pytest.mark.slow
def test_idle_connections_on_the_redis_layer_survive_longer_than_socket_timeout(
    live_env, redis_url, user, other_user, make_room
):
    """Two processes share a room through Redis; after 16 s of silence a message still crosses."""
    room = make_room("idle")
    alice, bob = services.issue_token(user=user), services.issue_token(user=other_user)
    env = live_env | {"REDIS_URL": redis_url}
    with DaphneServer(env) as first, DaphneServer(env) as second:
        layer_config = settings_with(REDIS_URL=redis_url)["CHANNEL_LAYERS"]["default"]["CONFIG"]
        asyncio.run(
            talk_after_silence(
                first,
                second,
                f"/ws/rooms/{room.slug}/",
                alice,
                bob,
                RedisChannelLayer(**layer_config),
            )
        )
        assert first.is_running() and second.is_running()
        assert "Timeout reading from socket" not in first.output() + second.output()


async def talk_after_silence(
    first: DaphneServer,
    second: DaphneServer,
    path: str,
    alice: str,
    bob: str,
    layer: RedisChannelLayer,
) -> None:
    # Beside the end-to-end path, a bare layer built from the settings' config
    # blocks in receive() through the same silence.
    channel = await layer.new_channel()
    waiting = asyncio.create_task(layer.receive(channel))
    async with (
        connect(first.ws_url(path), additional_headers=bearer(alice)) as on_first,
        connect(second.ws_url(path), additional_headers=bearer(bob)) as on_second,
    ):
        await frame_of_type(on_first, "ready")
        await frame_of_type(on_second, "ready")

        await asyncio.sleep(IDLE_SECONDS)  # the point of the test: nothing happens

        await on_first.send(json.dumps({"type": "message", "body": "still there?"}))
        frame = await frame_of_type(on_second, "message")
        assert (frame["user"], frame["body"]) == ("alice", "still there?")

    assert not waiting.done(), waiting
    await layer.send(channel, {"type": "still.there"})
    async with asyncio.timeout(5):
        assert (await waiting)["type"] == "still.there"
    await layer.flush()
