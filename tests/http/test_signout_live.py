"""Signing out closes the WebSockets of that session with 4401, on a real daphne, both modes.

After a sign-out the old socket still posted.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
import websockets
from django.conf import settings
from websockets.asyncio.client import connect

from tests.helpers.processes import DaphneServer
from tests.helpers.sessions import session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes, pytest.mark.slow]


@pytest.fixture
def env(live_env_both_modes):
    return live_env_both_modes


def sign_out(server: DaphneServer, session: str) -> int:
    """POST /accounts/logout/ with the session, as the page's sign-out button does."""
    cookie = f"{settings.SESSION_COOKIE_NAME}={session}"
    with urllib.request.urlopen(  # noqa: S310
        urllib.request.Request(f"{server.url}/accounts/login/", headers={"Cookie": cookie})
    ) as response:
        token = next(
            value.split(";")[0].split("=", 1)[1]
            for name, value in response.headers.items()
            if name.lower() == "set-cookie" and value.startswith("csrftoken=")
        )
    request = urllib.request.Request(
        f"{server.url}/accounts/logout/",
        data=b"",
        headers={"Cookie": f"{cookie}; csrftoken={token}", "X-CSRFToken": token},
    )
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


async def open_socket(server: DaphneServer, session: str, slug: str):
    socket = await connect(
        server.ws_url(f"/ws/rooms/{slug}/"),
        additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}"},
    )
    ready = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert ready["type"] == "ready"
    return socket


async def closed_with(socket) -> int:
    try:
        async with asyncio.timeout(10):
            while True:
                await socket.recv()
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def test_sign_out_closes_that_sessions_sockets_only(env, room, user):
    laptop, phone = session_cookie(user), session_cookie(user)
    # Redis mode: the socket lives on another process than the one signed out on.
    count = 2 if env.get("REDIS_URL") else 1

    async def scenario(first, last):
        on_laptop = await open_socket(last, laptop, room.slug)
        on_phone = await open_socket(last, phone, room.slug)
        status = await asyncio.to_thread(sign_out, first, laptop)
        code = await closed_with(on_laptop)
        await on_phone.send(json.dumps({"type": "ping"}))
        pong = json.loads(await asyncio.wait_for(on_phone.recv(), 10))
        await on_phone.close()
        return status, code, pong

    servers = [DaphneServer(env) for _ in range(count)]
    try:
        for server in servers:
            server.start()
        status, code, pong = asyncio.run(scenario(servers[0], servers[-1]))
    finally:
        for server in servers:
            server.cleanup()

    assert status == 302
    assert code == 4401
    assert pong == {"type": "pong"}
