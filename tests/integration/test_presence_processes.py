"""Presence and typing between real daphne processes (and in embedded mode).

``join`` on a user's first connection to a room, ``leave`` on the last, counted over
tabs on different processes; typing crosses processes, is throttled and never
stored; the per-user connection cap counts every process; the lobby counts come
from the same data.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import websockets
from websockets.asyncio.client import connect

from chat import services
from chat.models import Message
from tests.helpers.processes import DaphneServer

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]


class Tab:
    """One open WebSocket: its ready frame, and the frames that came after."""

    def __init__(self, ws, ready: dict) -> None:
        self.ws = ws
        self.ready = ready
        self.frames: list[dict] = []

    async def expect(self, kind: str, timeout: float = 5, **fields) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await self.ws.recv())
                self.frames.append(frame)
                if frame["type"] == kind and all(frame.get(k) == v for k, v in fields.items()):
                    return frame

    async def send(self, kind: str, **fields) -> None:
        await self.ws.send(json.dumps({"type": kind, **fields}))


async def open_tab(server: DaphneServer, slug: str, token: str, query: str = "") -> Tab:
    ws = await connect(
        server.ws_url(f"/ws/rooms/{slug}/{query}"),
        additional_headers={"Authorization": f"Bearer {token}"},
    )
    return Tab(ws, json.loads(await asyncio.wait_for(ws.recv(), 10)))


async def refused_code(server: DaphneServer, slug: str, token: str) -> int:
    tab = await open_tab(server, slug, token)
    assert tab.ready["type"] == "error", tab.ready
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(tab.ws.recv(), 10)
    return closed.value.rcvd.code


def start_servers(env: dict[str, str], count: int) -> list[DaphneServer]:
    servers = [DaphneServer(env) for _ in range(count)]
    with ThreadPoolExecutor(count) as pool:
        list(pool.map(lambda server: server.start(), servers))
    return servers


async def presence_story(servers, room, tokens, *, lobby_counts) -> None:
    """The same story in both modes; ``servers`` may be one process or two."""
    first, second = servers[0], servers[-1]
    alice = await open_tab(first, room.slug, tokens["alice"])
    bob = await open_tab(second, room.slug, tokens["bob"])
    assert bob.ready["online"] == ["alice", "bob"]
    await alice.expect("join", user="bob")

    # Bob's second tab, on the other process: no second join; the cap counts both.
    bob_again = await open_tab(first, room.slug, tokens["bob"])
    assert bob_again.ready["online"] == ["alice", "bob"]
    assert await refused_code(second, room.slug, tokens["bob"]) == 4429
    assert await lobby_counts() == 2

    # Typing crosses processes, at most once per 2 s, and is never stored.
    for _ in range(3):
        await bob.send("typing", active=True)
    await bob.send("typing", active=False)  # never throttled: the end of typing
    await alice.expect("typing", user="bob", active=False)
    assert [f for f in alice.frames if f["type"] == "typing"] == [
        {"type": "typing", "user": "bob", "active": True},
        {"type": "typing", "user": "bob", "active": False},
    ]
    assert await Message.objects.filter(room=room).acount() == 0
    # Not echoed to the typist, on either of his processes. A room message flushes the
    # typing frames its process batched for the room before it, so once bob's tabs
    # have read alice's message they have read any typing frame they would get.
    await alice.send("message", body="seen you typing", client_id="a1")
    for tab in (bob, bob_again):
        await tab.expect("message", client_id="a1")
        assert not [f for f in tab.frames if f["type"] == "typing"], tab.frames

    # Leave only when bob's last tab closes.
    await bob.ws.close()
    await bob_again.ws.close()
    await alice.expect("leave", user="bob")
    assert [f["type"] for f in alice.frames if f["type"] in ("join", "leave")] == ["join", "leave"]
    assert await lobby_counts() == 1
    await alice.ws.close()


def lobby_count(server: DaphneServer, slug: str) -> int:
    """The online count the lobby page shows for room ``slug``."""
    with urllib.request.urlopen(f"{server.url}/", timeout=5) as response:
        html = response.read().decode()
    match = re.search(rf'href="/rooms/{slug}/".*?data-online="(\d+)"', html, re.S)
    assert match, f"no online count for {slug} in the lobby"
    return int(match.group(1))


@pytest.mark.redis
def test_presence_and_typing_across_two_processes(live_env, redis_url, make_user, make_room):
    run_story(live_env | {"REDIS_URL": redis_url}, 2, make_user, make_room)


def test_presence_and_typing_in_embedded_mode(live_env, make_user, make_room):
    run_story(live_env, 1, make_user, make_room)


def run_story(env, processes, make_user, make_room) -> None:
    room = make_room()
    users = [make_user("alice"), make_user("bob")]
    tokens = dict(zip(("alice", "bob"), services.issue_tokens(users=users), strict=True))
    servers = start_servers(env | {"CHAT_MAX_CONNECTIONS_PER_USER": "2"}, processes)

    async def lobby_counts() -> int:
        return await asyncio.to_thread(lobby_count, servers[-1], room.slug)

    try:
        asyncio.run(presence_story(servers, room, tokens, lobby_counts=lobby_counts))
    finally:
        for server in servers:
            server.kill()


async def presence_frames_story(servers, room, tokens) -> None:
    """Protocol 2 and protocol 1 members watch people come and go on two processes."""
    first, second = servers
    alice = await open_tab(first, room.slug, tokens["alice"], "?v=2")
    carol = await open_tab(first, room.slug, tokens["carol"])  # an old client
    assert (alice.ready["protocol"], carol.ready["protocol"]) == (2, 1)

    async def changes(tab: Tab, change: str, names: set[str]) -> None:
        seen: set[str] = set()
        while not seen >= names:
            seen.update((await tab.expect("presence"))[change])

    # Bob on the other process, then his second tab here: one arrival.
    bob = await open_tab(second, room.slug, tokens["bob"], "?v=2")
    await changes(alice, "joined", {"bob"})
    await carol.expect("join", user="bob")
    bob_again = await open_tab(first, room.slug, tokens["bob"], "?v=2")
    assert bob_again.ready["online"] == ["alice", "bob", "carol"]

    # A crowd on the other process.
    guests = [await open_tab(second, room.slug, t, "?v=2") for t in tokens["guests"]]
    names = {f"guest{n}" for n in range(len(guests))}
    await changes(alice, "joined", names)
    for _ in names:
        await carol.expect("join")

    await bob.ws.close()
    await bob_again.ws.close()
    for guest in guests:
        await guest.ws.close()
    await changes(alice, "left", names | {"bob"})
    await carol.expect("leave", user="bob")
    presence = [f for f in alice.frames if f["type"] == "presence"]
    about_bob = [f for f in presence if "bob" in f["joined"] + f["left"]]
    assert len(about_bob) == 2  # one arrival, one departure, over three tabs on two processes
    assert not [f for f in alice.frames if f["type"] in ("join", "leave")]
    assert "presence" not in [f["type"] for f in carol.frames]
    await alice.ws.close()
    await carol.ws.close()


@pytest.mark.redis
def test_presence_frames_across_two_processes(live_env, redis_url, make_user, make_room):
    room = make_room()
    names = ["alice", "bob", "carol"]
    guests = [f"guest{n}" for n in range(6)]
    users = [make_user(name) for name in names + guests]
    issued = services.issue_tokens(users=users)
    tokens = dict(zip(names, issued, strict=False)) | {"guests": issued[len(names) :]}
    servers = start_servers(live_env | {"REDIS_URL": redis_url}, 2)
    try:
        asyncio.run(presence_frames_story(servers, room, tokens))
    finally:
        for server in servers:
            server.kill()
