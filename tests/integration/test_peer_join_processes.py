"""A process that starts listening to a busy room gets its ephemeral events at once.

Process A already serves the room and has read (and cached) which other processes
listen to it: nobody. Then a client opens the room on process B, the first there.
Typing and join frames are not filled from history like messages, so once B's
client has ``ready``, what A's clients do next must reach it: B's hub waits, before
``ready``, until A acknowledged its announcement (``chat.events.peers``).
"""

from __future__ import annotations

import asyncio

import pytest

from chat import services
from tests.integration.test_presence_processes import open_tab, start_servers

pytestmark = [pytest.mark.processes, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

# Fresh rooms per run: each is a first join of B, each a chance for the old race.
ROUNDS = 5


async def first_join_story(a, b, rooms, tokens) -> None:
    for room in rooms:
        alice = await open_tab(a, room.slug, tokens["alice"])
        dave = await open_tab(a, room.slug, tokens["dave"])
        # Alice types: A publishes to the room, reads its peers (none) and caches that.
        await alice.send("typing", active=True)
        await dave.expect("typing", user="alice", active=True)

        bob = await open_tab(b, room.slug, tokens["bob"])
        assert bob.ready["type"] == "ready", bob.ready
        # Right after bob's ready: A's typing and a join on A reach B's client.
        await alice.send("typing", active=False)  # the end of typing is never throttled
        carol = await open_tab(a, room.slug, tokens["carol"])
        await bob.expect("typing", timeout=3, user="alice", active=False)
        await bob.expect("join", timeout=3, user="carol")
        for tab in (alice, dave, bob, carol):
            await tab.ws.close()


def test_ephemeral_events_reach_a_process_right_after_it_joins_a_busy_room(
    live_env, redis_url, make_user, make_room
):
    rooms = [make_room() for _ in range(ROUNDS)]
    names = ("alice", "bob", "carol", "dave")
    users = [make_user(name) for name in names]
    tokens = dict(zip(names, services.issue_tokens(users=users), strict=True))
    servers = start_servers(live_env | {"REDIS_URL": redis_url}, 2)
    try:
        asyncio.run(first_join_story(*servers, rooms, tokens))
    finally:
        for server in servers:
            server.kill()
