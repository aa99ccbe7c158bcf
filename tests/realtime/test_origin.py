"""The WebSocket Origin rule compares scheme, host and port, like Django's CSRF check."""

from __future__ import annotations

import pytest

from chat.realtime.origin import origin_allowed


def scope(host: str | None = "127.0.0.1:8000", scheme: str = "ws", **headers: str) -> dict:
    raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    if host is not None:
        raw.append((b"host", host.encode()))
    return {"scheme": scheme, "headers": raw, "client": ("127.0.0.1", 50000)}


@pytest.fixture(autouse=True)
def site(settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "chat.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = []
    settings.CHAT_TRUSTED_PROXIES = []


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",  # another port on the same host
        "https://127.0.0.1",  # another scheme
        "https://127.0.0.1:8000",
        "http://evil.example:8000",
        "http://127.0.0.1:8000.evil.example",
        "null",
    ],
)
def test_other_origins_are_refused(origin):
    assert not origin_allowed(scope(), origin)


def test_the_sites_own_origin_is_allowed():
    assert origin_allowed(scope(), "http://127.0.0.1:8000")
    assert origin_allowed(scope(host="chat.example.com", scheme="wss"), "https://chat.example.com")


def test_a_host_outside_allowed_hosts_is_refused_even_when_it_matches():
    assert not origin_allowed(scope(host="evil.example"), "http://evil.example")


def test_without_a_host_header_nothing_is_allowed():
    assert not origin_allowed(scope(host=None), "http://127.0.0.1:8000")


def test_https_behind_a_trusted_proxy(settings):
    proxied = scope(host="chat.example.com", x_forwarded_proto="https")
    assert not origin_allowed(proxied, "https://chat.example.com")  # nobody trusted yet
    settings.CHAT_TRUSTED_PROXIES = ["127.0.0.1"]
    assert origin_allowed(proxied, "https://chat.example.com")
    assert not origin_allowed(proxied, "http://chat.example.com")


def test_csrf_trusted_origins_are_allowed(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com", "https://*.example.org"]
    assert origin_allowed(scope(), "https://app.example.com")
    assert origin_allowed(scope(), "https://chat.example.org")
    assert not origin_allowed(scope(), "http://chat.example.org")


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_a_real_daphne_compares_scheme_host_and_port(live_env, room, user):
    import asyncio
    import json

    import websockets
    from websockets.asyncio.client import connect

    from chat import services
    from tests.helpers.processes import DaphneServer

    token = services.issue_token(user=user)

    async def first(server, origin: str):
        async with connect(
            server.ws_url("/ws/rooms/lobby/"),
            origin=origin,
            additional_headers={"Authorization": f"Bearer {token}"},
        ) as socket:
            frame = json.loads(await asyncio.wait_for(socket.recv(), 10))
            if frame["type"] != "error":
                return frame["type"], None
            try:
                await asyncio.wait_for(socket.recv(), 10)
            except (websockets.ConnectionClosed, TimeoutError) as closed:
                code = getattr(getattr(closed, "rcvd", None), "code", None)
                return frame["type"], code
            return frame["type"], None

    with DaphneServer(live_env) as server:
        other_port = asyncio.run(first(server, "http://127.0.0.1:9999"))
        other_scheme = asyncio.run(first(server, f"https://127.0.0.1:{server.port}"))
        own = asyncio.run(first(server, f"http://127.0.0.1:{server.port}"))

    assert other_port == ("error", 4403)
    assert other_scheme == ("error", 4403)
    assert own[0] == "ready"
