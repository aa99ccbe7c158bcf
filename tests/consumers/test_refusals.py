"""Every refusal: the server accepts, sends an error frame saying why, then closes with the code."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import SESSION_KEY
from django.test import Client as HttpClient

from chat import services
from chat.wire.errors import CloseCode
from tests.helpers.ws import communicator, connect

pytestmark = pytest.mark.django_db(transaction=True)


async def _refused(path, code, **kwargs):
    comm = communicator(path, **kwargs)
    connected, _ = await comm.connect(timeout=5)
    assert connected, "refusals accept first, so the client can read the code"
    error = await comm.receive_json_from(timeout=3)
    assert error["type"] == "error" and error["detail"]
    closed = await comm.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": code}
    await comm.disconnect()
    return error


async def test_no_credentials_is_4401(embedded, room):
    await _refused("/ws/rooms/lobby/", CloseCode.NOT_AUTHENTICATED)


async def test_unknown_token_is_4401(embedded, room):
    error = await _refused("/ws/rooms/lobby/", CloseCode.NOT_AUTHENTICATED, token="nope")
    assert "token" in error["detail"]


async def test_revoked_token_is_4401(embedded, room, user, token):
    await sync_to_async(services.revoke_tokens)(tokens=user.chat_tokens.all())
    await _refused("/ws/rooms/lobby/", CloseCode.NOT_AUTHENTICATED, token=token)


async def test_unknown_room_is_4404(embedded, room, token):
    await _refused("/ws/rooms/nowhere/", CloseCode.NO_SUCH_ROOM, token=token)


async def test_private_room_for_a_non_member_is_4403(embedded, make_room, token):
    await sync_to_async(make_room)("secret", is_private=True)
    error = await _refused("/ws/rooms/secret/", CloseCode.FORBIDDEN, token=token)
    assert error["code"] == "forbidden"


async def test_private_room_admits_members(embedded, make_room, user, token):
    secret = await sync_to_async(make_room)("secret", is_private=True)
    await sync_to_async(secret.members.add)(user)
    async with connect("/ws/rooms/secret/", token=token) as alice:
        assert alice.ready["room"]["slug"] == "secret"


async def test_banned_user_is_4403(embedded, room, user, other_user, token):
    await sync_to_async(services.ban_user)(room=room, user=user, by=other_user, reason="spam")
    error = await _refused("/ws/rooms/lobby/", CloseCode.FORBIDDEN, token=token)
    assert "banned" in error["detail"]


async def test_archived_room_is_4410(embedded, make_room, token):
    await sync_to_async(make_room)("old", is_archived=True)
    await _refused("/ws/rooms/old/", CloseCode.ROOM_ARCHIVED, token=token)


@pytest.mark.parametrize("since", ["abc", "-1", "1.5", "", "99999999999999999999"])
async def test_malformed_since_is_4400(embedded, room, token, since):
    if since == "":
        async with connect("/ws/rooms/lobby/?since=", token=token) as alice:
            assert "recovered" not in alice.ready  # an empty value is no value
        return
    await _refused(f"/ws/rooms/lobby/?since={since}", CloseCode.BAD_REQUEST, token=token)


async def test_foreign_origin_is_4403(embedded, room, token):
    error = await _refused(
        "/ws/rooms/lobby/", CloseCode.FORBIDDEN, token=token, origin="https://evil.example"
    )
    assert "origin" in error["detail"]


async def test_own_origin_and_no_origin_are_accepted(embedded, room, token):
    async with connect("/ws/rooms/lobby/", token=token, origin="http://127.0.0.1:8000"):
        pass
    async with connect("/ws/rooms/lobby/", token=token):
        pass


async def test_too_many_connections_is_4429_and_frees_up_on_close(embedded, room, token, settings):
    settings.CHAT_MAX_CONNECTIONS_PER_USER = 2
    async with (
        connect("/ws/rooms/lobby/", token=token),
        connect("/ws/rooms/lobby/", token=token) as second,
    ):
        await _refused("/ws/rooms/lobby/", CloseCode.TOO_MANY_CONNECTIONS, token=token)
        await second.close()
        async with connect("/ws/rooms/lobby/", token=token) as third:
            assert third.ready["user"] == "alice"


async def test_session_cookie_authenticates_a_browser(embedded, room, user):
    http = HttpClient()
    await sync_to_async(http.force_login)(user)
    cookie = http.cookies["sessionid"].value
    session = await sync_to_async(lambda: http.session[SESSION_KEY])()
    assert session == str(user.pk)
    from channels.testing import WebsocketCommunicator

    from chatsite.asgi import application

    comm = WebsocketCommunicator(
        application,
        "/ws/rooms/lobby/",
        headers=[
            (b"cookie", f"sessionid={cookie}".encode()),
            (b"origin", b"http://localhost"),
            (b"host", b"localhost"),
        ],
    )
    connected, _ = await comm.connect(timeout=5)
    assert connected
    ready = await comm.receive_json_from(timeout=3)
    assert ready["type"] == "ready" and ready["user"] == "alice"
    await comm.disconnect()


@pytest.mark.parametrize(
    ("debug", "allowed_hosts", "origin", "accepted"),
    [
        (True, [], "http://127.0.0.1:8000", True),  # a new startproject in development
        (True, [".localhost", "127.0.0.1"], "http://127.0.0.1:8000", True),
        # The page is served from 127.0.0.1:8000 (the Host header): another origin.
        (True, [], "http://localhost:8000", False),
        (True, [], "https://evil.example", False),
        (False, [], "http://127.0.0.1:8000", False),
    ],
)
async def test_origins_follow_djangos_reading_of_allowed_hosts(
    embedded, room, token, settings, debug, allowed_hosts, origin, accepted
):
    settings.DEBUG = debug
    settings.ALLOWED_HOSTS = allowed_hosts

    if accepted:
        async with connect("/ws/rooms/lobby/", token=token, origin=origin) as client:
            assert client.ready["room"]["slug"] == "lobby"
    else:
        await _refused("/ws/rooms/lobby/", CloseCode.FORBIDDEN, token=token, origin=origin)
