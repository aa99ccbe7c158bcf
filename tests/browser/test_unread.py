"""Unread and mention counts in the sidebar, live across processes, tabs and devices.

Alice has two pages on two daphne processes sharing Redis: a room page on the first
and the lobby on the second (another device). Bob writes in another room (on the
second process): both of Alice's sidebars count it at once. Alice opens that room in
a second tab: the "new since you left" line marks the first unread message, and the
sidebars of her other tab and her other device clear.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from playwright.sync_api import expect

from chat import services
from chat.models import ReadPosition
from tests.browser.room_ui import RoomUI
from tests.helpers.processes import DaphneServer
from tests.helpers.wait import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def post_with_mention(room, author, mentioned, body: str) -> None:
    """Post ``body`` (which mentions ``mentioned``) as ``author``.

    From a thread of its own: Playwright keeps an event loop running on the test's
    thread, and publishing from plain sync code runs one.
    """
    assert f"@{mentioned.get_username()}" in body

    def post() -> None:
        try:
            services.post_message(room=room, author=author, body=body)
        finally:
            connection.close()

    thread = threading.Thread(target=post)
    thread.start()
    thread.join(30)


def sidebar_room(ui, slug: str):
    return ui.page.locator(f'#sidebar li[data-slug="{slug}"]')


def test_counts_appear_and_clear_live_across_processes_and_tabs(
    site_env, redis_mode, open_ui, user, other_user, room, make_room
):
    # redis_mode: this process publishes the mention's message like a server process.
    dev = make_room("dev", title="Dev")
    for joined in (room, dev):
        ReadPosition.objects.create(user=user, room=joined, seq=0)
    with DaphneServer(site_env) as first, DaphneServer(site_env) as second:
        tab = open_ui(first.url, user=user).open_room("lobby")
        lobby = open_ui(second.url, user=user)
        lobby.page.clock.install()  # the lobby reads online counts again every 30 s
        lobby.page.goto("/")
        dev_online = lobby.page.locator('.room-card[data-slug="dev"] .online-count')
        expect(dev_online).to_have_text("0 online")
        for page in (tab, lobby):
            expect(page.page.locator("#sidebar")).to_have_attribute("data-state", "live")
            expect(sidebar_room(page, "dev").locator(".sidebar-unread")).to_be_hidden()

        bob = open_ui(second.url, user=other_user).open_room("dev")
        bob.send("hello alice")
        bob.send("second one")
        bob.wait_confirmed()
        post_with_mention(dev, other_user, user, "@alice look at this")

        for page in (tab, lobby):
            expect(sidebar_room(page, "dev").locator(".sidebar-unread")).to_have_text("3")
            expect(sidebar_room(page, "dev").locator(".sidebar-mentions")).to_have_text("@1")
        expect(lobby.page).to_have_title("(3) Rooms · Chat")
        # The lobby's card of the room says it was just active.
        card = lobby.page.locator('.room-card[data-slug="dev"] .last-activity')
        expect(card).to_contain_text("just now")
        lobby.page.clock.fast_forward("00:31")
        expect(dev_online).to_have_text("1 online")

        # Alice opens the room in another tab of the first browser: the line before
        # the first unread, and the other pages' sidebars clear once it read them.
        reader = RoomUI(tab.page.context.new_page()).open_room("dev")
        divider = reader.page.locator("#messages .unread-divider")
        expect(divider).to_have_text("New since you left")
        first_unread = divider.locator("xpath=following-sibling::li[1]")
        expect(first_unread.locator(".msg-body")).to_have_text("hello alice")
        for page in (tab, lobby):
            expect(sidebar_room(page, "dev").locator(".sidebar-unread")).to_be_hidden()
            expect(sidebar_room(page, "dev").locator(".sidebar-mentions")).to_be_hidden()
        expect(lobby.page).to_have_title("Rooms · Chat")
        assert not reader.errors
        # Saved by the coalescing flusher within a few seconds, the tab still open.
        wait_until(
            lambda: ReadPosition.objects.get(user=user, room=dev).seq == 3,
            10,
            "alice's read position saved",
        )
