"""A private room run by its non-staff creator, from the page alone: create it, invite
one person by name and another by link, and remove a member whose open page is
closed at once (while the others' pages stay live)."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from chat import membership, services
from chat.models import ModerationAction, Room

pytestmark = [
    pytest.mark.browser,
    pytest.mark.processes,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]


def test_a_creator_invites_by_name_and_link_and_removes_a_member(
    server, open_ui, redis_mode, user, other_user, make_user
):
    assert not user.is_staff
    carol = make_user("carol")
    alice = open_ui(server.url, user=user)
    page = alice.page
    page.goto("/")
    page.locator("#id_title").fill("Secret plans")
    page.locator("#id_slug").fill("secret-plans")
    page.get_by_label("Private (only people you invite can enter)").check()
    page.get_by_role("button", name="Create room").click()
    alice.wait_state("live")
    assert Room.objects.get(slug="secret-plans").is_private

    # bob cannot enter yet.
    bob = open_ui(server.url, user=other_user)
    assert bob.page.goto("/rooms/secret-plans/").status == 403

    # Invite bob by name, from the keyboard.
    page.get_by_role("button", name="Members").click()
    dialog = page.locator("#members-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".member-row[data-user=alice]")).to_contain_text("moderator")
    page.get_by_label("Invite by username").fill("nobody")
    page.get_by_label("Invite by username").press("Enter")
    expect(page.locator("#members-error")).to_have_text("there is no user called “nobody”")
    page.get_by_label("Invite by username").fill("bob")
    page.get_by_label("Invite by username").press("Enter")
    expect(dialog.locator(".member-row[data-user=bob]")).to_be_visible()
    expect(page.locator("#members-error")).to_be_hidden()

    # A single-use link, for carol.
    page.locator("#invite-uses").select_option("1")
    dialog.get_by_role("button", name="Create link").click()
    link_field = dialog.locator(".invite-link .invite-url").first
    expect(link_field).to_be_focused()
    link = link_field.input_value()
    assert "/invites/" in link
    expect(dialog.locator(".invite-meta").first).to_contain_text("Lets in 1 more person")

    bob.open_room("secret-plans")
    carol_ui = open_ui(server.url, user=carol)
    carol_ui.page.goto(link)
    carol_ui.page.get_by_role("button", name="Join the room").click()
    carol_ui.wait_state("live")
    assert carol_ui.page.url.endswith("/rooms/secret-plans/")

    # The link is used up: it no longer shows, and a second person is refused.
    page.get_by_role("button", name="Close").click()
    page.get_by_role("button", name="Members").click()
    expect(dialog.locator(".member-row[data-user=carol]")).to_be_visible()
    expect(dialog.locator(".invite-link")).to_have_count(0)

    # Remove bob: his open page is closed at once and says why; carol's stays live.
    started = time.monotonic()
    dialog.get_by_role("button", name="Remove bob from the room").click()
    bob.wait_state("closed", timeout=3_000)
    elapsed = time.monotonic() - started
    expect(bob.page.locator("#notice-text")).to_contain_text("you were removed from this room")
    expect(bob.page.locator("#composer-input")).to_be_disabled()
    expect(dialog.locator(".member-row[data-user=bob]")).to_have_count(0)
    assert elapsed < 3
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Members")).to_be_focused()
    alice.send("bob is gone")
    carol_ui.wait_for_message("bob is gone")
    assert carol_ui.page.locator("body").get_attribute("data-state") == "live"
    assert bob.page.reload().status == 403
    kinds = set(ModerationAction.objects.values_list("kind", flat=True))
    assert {"add", "invite", "join", "remove"} <= kinds


def test_a_member_leaves_from_the_keyboard_and_the_last_moderator_is_told_why_not(
    server, open_ui, redis_mode, user, other_user
):
    room = services.create_room(slug="club", title="Club", by=user, is_private=True)
    membership.add_member(room=room, user=other_user, by=user)
    alice = open_ui(server.url, user=user).open_room("club")
    bob = open_ui(server.url, user=other_user).open_room("club")

    # alice is the only moderator, with bob still in: leaving is refused, and says why.
    alice.page.get_by_role("button", name="Members").click()
    alice.page.get_by_role("button", name="Leave room…").click()
    alice.page.get_by_role("button", name="Leave for good").click()
    expect(alice.page.locator("#members-error")).to_contain_text("only moderator")
    assert room.members.filter(pk=user.pk).exists()

    # bob sees the list without moderator buttons, and leaves with the keyboard.
    bob.page.get_by_role("button", name="Members").focus()
    bob.page.keyboard.press("Enter")
    dialog = bob.page.locator("#members-dialog")
    expect(dialog.locator(".member-row[data-user=alice]")).to_be_visible()
    expect(dialog.locator(".member-remove")).to_have_count(0)
    expect(bob.page.locator("#members-manage")).to_be_hidden()
    bob.page.get_by_role("button", name="Leave room…").click()
    expect(bob.page.get_by_role("button", name="Leave for good")).to_be_focused()
    bob.page.keyboard.press("Enter")
    bob.page.wait_for_url(f"{server.url}/")
    assert not room.members.filter(pk=other_user.pk).exists()
