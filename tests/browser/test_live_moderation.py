"""Moderation as the moderated user's page shows it: slow mode turned off ends the
countdown, a mute shows at once with its end, and a ban says so once while the
others' online lists drop the banned user."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from chat import services
from chat.models import Mute
from tests.helpers.processes import DaphneServer
from tests.helpers.wait import wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.processes,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]


def in_thread(service, **kwargs):
    """Call a service off this thread: Playwright's event loop runs in this one, and the
    service's after-commit publish needs a thread without one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(service, **kwargs).result()


def test_turning_slow_mode_off_ends_a_running_countdown(
    server, open_ui, redis_mode, user, other_user, make_room
):
    room = make_room("slow", slow_mode_seconds=120)
    bob = open_ui(server.url, user=other_user).open_room("slow")
    hint = bob.page.locator("#composer-hint")
    bob.send("first")
    bob.wait_confirmed()
    expect(hint).to_contain_text("Slow down: you can send again in")
    bob.composer.press_sequentially("second")
    expect(bob.page.locator("#composer-send")).to_be_disabled()

    in_thread(services.set_room_state, room=room, by=user, slow_mode_seconds=0)
    expect(bob.page.locator("#room-slow")).to_be_hidden()
    expect(hint).to_have_text("Enter sends · Shift+Enter adds a line")
    expect(bob.page.locator("#composer-send")).to_be_enabled()
    bob.composer.press("Enter")
    bob.wait_for_message("second")
    bob.wait_confirmed()
    assert bob.bodies() == ["first", "second"]


def test_a_mute_shows_at_once_with_its_end_and_lifting_it_shows_too(
    site_env, open_ui, redis_mode, user, other_user, room
):
    room.moderators.add(user)
    # Bob's page is served by another process than the moderator's.
    with DaphneServer(site_env) as server, DaphneServer(site_env) as other_server:
        alice = open_ui(server.url, user=user).open_room("lobby")
        bob = open_ui(other_server.url, user=other_user).open_room("lobby")
        bob.send("hello")
        alice.wait_for_message("hello")

        message = alice.message("hello")
        message.hover()
        message.get_by_role("button", name="Actions for").click()
        message.get_by_role("menuitem", name="Mute bob").click()
        dialog = alice.page.locator("#action-dialog")
        dialog.get_by_label("For how long").select_option("10")
        dialog.get_by_role("button", name="Mute").click()
        expect(dialog).to_be_hidden()

        # Bob's page says so before he tries to write, with the end of the mute.
        until = in_thread(lambda: Mute.objects.get(room=room, user=other_user).until)
        end = bob.page.evaluate(
            "iso => new Date(iso).toLocaleString([], {hour: '2-digit', minute: '2-digit'})",
            until.isoformat(),
        )
        notice = bob.page.locator("#notice")
        expect(notice).to_contain_text(f"muted you in this room until {end}")
        expect(bob.page.locator("#composer-hint")).to_contain_text(f"until {end}")
        expect(bob.composer).to_be_disabled()

        # Lifted from a third process (the admin's, say).
        in_thread(services.unmute_user, room=room, user=other_user, by=user)
        expect(notice).to_be_hidden()
        expect(bob.page.locator("#toast")).to_contain_text("lifted your mute")
        expect(bob.composer).to_be_enabled()
        bob.send("thanks")
        alice.wait_for_message("thanks")


def test_a_ban_is_said_once_and_leaves_everyones_online_list(
    site_env, open_ui, user, other_user, make_user, room
):
    room.moderators.add(user)
    carol = make_user("carol")
    # Bob on another process than the moderator and Carol: his leave must cross over.
    with DaphneServer(site_env) as server, DaphneServer(site_env) as other_server:
        alice = open_ui(server.url, user=user).open_room("lobby")
        watcher = open_ui(server.url, user=carol).open_room("lobby")
        bob = open_ui(other_server.url, user=other_user).open_room("lobby")
        for ui in (alice, watcher):
            wait_until(lambda ui=ui: "bob" in ui.online(), 10, "bob online")
        bob.send("spam")
        alice.wait_for_message("spam")

        message = alice.message("spam")
        message.hover()
        message.get_by_role("button", name="Actions for").click()
        message.get_by_role("menuitem", name="Ban bob").click()
        alice.page.locator("#action-dialog").get_by_role("button", name="Ban").click()

        bob.wait_state("closed")
        page = bob.page
        expect(page.locator("#notice")).to_have_text(
            "You can’t use this room any more: you were banned from this room. Dismiss"
        )
        # Once: not again in a (green) toast, nor under the message box.
        expect(page.locator("#toast")).to_be_hidden()
        assert "banned" not in page.locator("#composer-hint").text_content()
        assert page.get_by_text("banned").count() == 1
        # The banned page's online list is emptied; the others drop bob.
        assert bob.online() == []
        expect(page.locator("#online-count")).to_have_text("–")
        for ui in (alice, watcher):
            wait_until(lambda ui=ui: ui.online() == ["alice", "carol"], 10, "bob gone")


def test_the_online_list_is_marked_stale_while_disconnected(
    site_env, open_ui, user, other_user, room
):
    with DaphneServer(site_env) as server:
        alice = open_ui(server.url, user=user).open_room("lobby")
        online = alice.page.locator("#online")
        expect(online).not_to_have_class("online-list is-stale")
        server.stop()
        expect(online).to_have_class("online-list is-stale")
        expect(alice.page.locator("#online-count")).to_have_text("–")
        server.start()
        alice.wait_state("live", timeout=30_000)
        expect(online).to_have_class("online-list")
        expect(alice.page.locator("#online-count")).to_have_text("1")


def test_a_page_opened_while_muted_says_so_at_once_and_the_end_reopens_the_box(
    server, open_ui, redis_mode, user, other_user, room
):
    # Short, so the test sees it end; the page counts down to `until` by itself.
    until = timezone.now() + timedelta(seconds=6)
    in_thread(services.mute_user, room=room, user=other_user, by=user, until=until)
    bob = open_ui(server.url, user=other_user).open_room("lobby")
    notice = bob.page.locator("#notice")
    # ready says so: the box is shut, with the end of the mute, before any send.
    expect(notice).to_contain_text("muted you in this room until")
    expect(bob.composer).to_be_disabled()

    expect(bob.composer).to_be_enabled(timeout=15_000)
    expect(notice).to_be_hidden()
    bob.send("free again")
    bob.wait_confirmed()
    assert bob.bodies() == ["free again"]
