"""Sidebars across processes: activity and read positions reach a user's sidebar
socket on another daphne process, over Redis, and positions reach the database."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect

from chat import services
from chat.models import ReadPosition
from tests.helpers.wait import wait_until
from tests.integration.test_presence_processes import Tab, open_tab, start_servers

pytestmark = [pytest.mark.processes, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


async def open_sidebar(server, token: str) -> Tab:
    ws = await connect(
        server.ws_url("/ws/me/"), additional_headers={"Authorization": f"Bearer {token}"}
    )
    return Tab(ws, json.loads(await asyncio.wait_for(ws.recv(), 10)))


async def story(first, second, dev, tokens) -> None:
    # Alice's sidebar lives on the first process; everything else on the second.
    sidebar = await open_sidebar(first, tokens["alice"])
    assert [r["slug"] for r in sidebar.ready["rooms"]] == [dev.slug]
    assert sidebar.ready["rooms"][0]["unread"] == 0
    bob = await open_tab(second, dev.slug, tokens["bob"])
    await bob.send("message", body="one", client_id="b1")
    await bob.expect("ack", client_id="b1")
    activity = await sidebar.expect("activity", room=dev.slug)
    assert activity["seq"] == 1 and activity["new"] == 1

    # Alice reads in a tab on the second process: her sidebar on the first clears.
    tab = await open_tab(second, dev.slug, tokens["alice"])
    await tab.send("read", seq=1)
    assert (await sidebar.expect("read", room=dev.slug))["seq"] == 1
    # A second sidebar (another device) opened now sees the position before it was
    # saved to the database (Redis holds it).
    later = await open_sidebar(second, tokens["alice"])
    assert later.ready["rooms"][0]["read_seq"] == 1 and later.ready["rooms"][0]["unread"] == 0
    for socket in (sidebar, bob, tab, later):
        await socket.ws.close()


def test_activity_and_reads_cross_processes(live_env, redis_url, make_user, make_room):
    dev = make_room("dev")
    names = ("alice", "bob")
    users = [make_user(name) for name in names]
    ReadPosition.objects.create(user=users[0], room=dev, seq=0)
    tokens = dict(zip(names, services.issue_tokens(users=users), strict=True))
    servers = start_servers(live_env | {"REDIS_URL": redis_url}, 2)
    try:
        asyncio.run(story(*servers, dev, tokens))
        # Saved when the tab closed (or by the flusher): at most a few seconds.
        wait_until(
            lambda: ReadPosition.objects.get(user=users[0], room=dev).seq == 1,
            timeout=10,
            message="read position saved",
        )
    finally:
        for server in servers:
            server.kill()
