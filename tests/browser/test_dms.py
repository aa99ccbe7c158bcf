"""Direct messages in Chromium: two users start a DM from the online list (and from a
message's menu) and chat in it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from chat import direct
from chat.models import Room

pytestmark = [
    pytest.mark.browser,
    pytest.mark.processes,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]


def test_two_users_start_a_dm_from_the_online_list_and_chat(
    server, open_ui, user, other_user, room
):
    alice = open_ui(server.url, user=user).open_room("lobby")
    bob = open_ui(server.url, user=other_user).open_room("lobby")
    expect(alice.page.locator("#online li")).to_have_count(2)
    bob.send("hello lobby")
    alice.wait_for_message("hello lobby")

    # Alice: "Message" beside bob's name in the online list.
    alice.page.get_by_role("button", name="Message bob").click()
    slug = direct.pair_slug(user, other_user)
    expect(alice.page).to_have_url(re.compile(rf"/rooms/{slug}/$"))
    alice.wait_state("live")
    expect(alice.page.locator(".room-title")).to_contain_text("alice, bob")
    expect(alice.page.get_by_role("button", name="Block bob")).to_be_visible()
    alice.send("hi bob")
    alice.wait_confirmed()

    # Bob's sidebar gets the new conversation live (and its unread message); he
    # opens it from there.
    dm_link = bob.page.locator(f'#sidebar-rooms li[data-slug="{slug}"] a')
    expect(dm_link.locator(".sidebar-unread")).to_have_text("1")
    dm_link.click()
    expect(bob.page).to_have_url(re.compile(rf"/rooms/{slug}/$"))
    bob.wait_state("live")
    bob.wait_for_message("hi bob")
    bob.send("hi alice")
    alice.wait_for_message("hi alice")
    assert alice.bodies() == bob.bodies() == ["hi bob", "hi alice"]
    assert Room.objects.filter(kind=Room.Kind.DM).count() == 1

    # The DM is in alice's sidebar, never in the lobby's list of rooms.
    alice.page.goto("/")
    expect(alice.page.locator(".room-list")).to_contain_text("Lobby")
    expect(alice.page.locator(".room-list")).not_to_contain_text("alice, bob")
    expect(alice.page.locator("#sidebar-rooms")).to_contain_text("alice, bob")


def test_message_from_a_messages_menu_opens_the_dm(server, open_ui, user, other_user, room):
    alice = open_ui(server.url, user=user).open_room("lobby")
    bob = open_ui(server.url, user=other_user).open_room("lobby")
    bob.send("ping")
    alice.wait_for_message("ping")
    message = alice.message("ping")
    message.hover()
    message.get_by_role("button", name="Actions for").click()
    alice.page.get_by_role("menuitem", name="Message bob").click()
    expect(alice.page).to_have_url(re.compile(rf"/rooms/{direct.pair_slug(user, other_user)}/$"))
    alice.wait_state("live")


def test_the_lobby_box_opens_a_group_dm(server, open_ui, user, other_user, make_user):
    make_user("carol")
    alice = open_ui(server.url, user=user)
    alice.page.goto("/")
    alice.page.get_by_label("People (usernames, separated by commas)").fill("nobody")
    alice.page.get_by_role("button", name="Message").click()
    expect(alice.page.locator("#dm-error")).to_contain_text("there is no user called “nobody”")
    alice.page.get_by_label("People (usernames, separated by commas)").fill("bob, carol")
    alice.page.get_by_role("button", name="Message").click()
    expect(alice.page).to_have_url(re.compile(r"/rooms/dm-g-[0-9a-f]+/$"))
    alice.wait_state("live")
    expect(alice.page.locator(".room-title")).to_contain_text("alice, bob, carol")
    assert Room.objects.get(kind=Room.Kind.DM).members.count() == 3
