"""Edit, delete and reply on the room page, live and across a reconnect.

Alice's page talks to one daphne process and Bob's to another, over the shared
Redis and database, as the issue's "done when" asks. The second test stops Alice's
process while Bob edits, deletes and a moderator deletes and restores: her page
reconnects with ``since`` and ``changes`` and shows the final state without a reload.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chat import services
from chat.models import Message
from tests.helpers.processes import DaphneServer
from tests.helpers.wait import wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.processes,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]


def _action(ui, text: str, name: str):
    """Open the ⋯ menu of the message ``text`` and choose its action named ``name``."""
    message = ui.message(text)
    message.hover()
    message.get_by_role("button", name="Actions for").click()
    message.get_by_role("menuitem", name=name).click()


def test_edit_reply_and_delete_reach_the_other_process_at_once(
    site_env, open_ui, user, other_user, room
):
    with DaphneServer(site_env) as server, DaphneServer(site_env) as other_server:
        alice = open_ui(server.url, user=user).open_room("lobby")
        bob = open_ui(other_server.url, user=other_user).open_room("lobby")

        bob.send("lunch at noom?")
        alice.wait_for_message("lunch at noom?")

        # Bob fixes his typo inline; Escape first cancels an edit without sending it.
        _action(bob, "lunch at noom?", "Edit your message")
        editor = bob.page.locator(".msg-editor-input")
        editor.fill("never mind")
        editor.press("Escape")
        expect(bob.page.locator(".msg-editor")).to_have_count(0)
        _action(bob, "lunch at noom?", "Edit your message")
        editor.fill("lunch at noon?")
        editor.press("Enter")
        alice.wait_for_message("lunch at noon?")
        edited = alice.message("lunch at noon?").locator(".msg-edited")
        expect(edited).to_have_text("(edited)")
        assert edited.get_attribute("title").startswith("Edited ")
        assert "never mind" not in alice.bodies()

        # Alice replies: the composer says to whom, the message quotes the original.
        _action(alice, "lunch at noon?", "Reply to bob")
        expect(alice.page.locator("#composer-reply")).to_contain_text("Replying to bob")
        alice.send("yes, see you there")
        expect(alice.page.locator("#composer-reply")).to_be_hidden()
        bob.wait_for_message("yes, see you there")
        quote = bob.message("yes, see you there").locator(".msg-quote")
        expect(quote).to_contain_text("bob: lunch at noon?")

        # Bob deletes his own message (after confirming): both pages show a tombstone,
        # and the reply's quote says the original is gone.
        _action(bob, "lunch at noon?", "Delete your message")
        dialog = bob.page.locator("#action-dialog")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Delete").click()
        wait_until(lambda: alice.bodies() == ["yes, see you there"], 10, "the tombstone")
        expect(alice.page.locator("#messages li.msg--deleted")).to_have_text("message deleted")
        expect(alice.message("yes, see you there").locator(".msg-quote")).to_contain_text(
            "deleted message"
        )
        expect(bob.message("yes, see you there").locator(".msg-quote")).to_contain_text(
            "deleted message"
        )
        reply = Message.objects.get(body="yes, see you there")
        assert reply.reply_to.is_deleted


def test_a_page_away_during_changes_shows_the_final_state_after_reconnecting(
    site_env, open_ui, user, other_user, staff_user, room
):
    with DaphneServer(site_env) as server, DaphneServer(site_env) as other_server:
        alice = open_ui(server.url, user=user).open_room("lobby")
        bob = open_ui(other_server.url, user=other_user).open_room("lobby")
        for text in ("first", "second", "third"):
            bob.send(text)
        bob.wait_confirmed()
        alice.wait_for_message("third")
        # A reload would lose this: it proves the page caught up in place.
        alice.page.evaluate("window.stillThisPage = true")

        server.stop()
        expect(alice.page.locator("#connection-text")).to_contain_text("Reconnecting in")
        _action(bob, "first", "Edit your message")
        bob.page.locator(".msg-editor-input").fill("first, edited")
        bob.page.locator(".msg-editor-input").press("Enter")
        bob.wait_for_message("first, edited")
        _action(bob, "second", "Delete your message")
        bob.page.locator("#action-dialog").get_by_role("button", name="Delete").click()
        wait_until(lambda: "second" not in bob.bodies(), 10, "bob's own deletion")
        third = Message.objects.get(body="third")
        services.delete_message(message=third, by=staff_user, reason="oops")
        services.restore_message(message=third, by=staff_user)
        bob.send("fourth")
        bob.wait_confirmed()

        server.start()
        alice.wait_state("live", timeout=30_000)
        wait_until(
            lambda: alice.bodies() == ["first, edited", "third", "fourth"],
            10,
            "the final state on alice's page",
        )
        expect(alice.page.locator("#messages li.msg--deleted")).to_have_count(1)
        expect(alice.message("first, edited").locator(".msg-edited")).to_have_count(1)
        assert alice.page.evaluate("window.stillThisPage") is True
        expect(alice.page.locator("#notice")).to_be_hidden()


def test_a_quote_jumps_to_an_original_not_loaded_yet(server, open_ui, user, other_user, room):
    first = services.post_message(room=room, author=other_user, body="the very first").message
    for n in range(80):
        services.post_message(room=room, author=other_user, body=f"filler {n}")
    services.post_message(room=room, author=user, body="about that", reply_to=first.pk)
    alice = open_ui(server.url, user=user).open_room("lobby")
    alice.wait_for_message("about that")
    assert "the very first" not in alice.bodies()
    alice.message("about that").locator(".msg-quote").click()
    expect(alice.message("the very first")).to_be_in_viewport(timeout=15_000)
    # From the keyboard: the reply's "Show original" action does the same.
    alice.page.locator("#timeline").evaluate("node => { node.scrollTop = node.scrollHeight; }")
    expect(alice.message("the very first")).not_to_be_in_viewport()
    alice.message("about that").get_by_role("button", name="Actions for").focus()
    alice.page.keyboard.press("Enter")  # the menu opens at Reply; Original is next
    alice.page.keyboard.press("ArrowDown")
    expect(
        alice.message("about that").get_by_role(
            "menuitem", name="Show the message this one replies to"
        )
    ).to_be_focused()
    alice.page.keyboard.press("Enter")
    expect(alice.message("the very first")).to_be_in_viewport()


def test_the_changes_cursor_stays_below_a_gap(server, open_ui, user, room):
    """A change frame lost between processes (or two arriving out of order) must be
    replayed on the next reconnect: the cursor is the last change with none missing."""
    alice = open_ui(server.url, user=user).open_room("lobby")
    values = alice.page.evaluate(
        """async () => {
          const { ChangeCursor } = await import("/static/chat/js/changes.js");
          const cursor = new ChangeCursor();
          const seen = [];
          cursor.ready(5, true); seen.push(cursor.value);
          cursor.applied(7); seen.push(cursor.value);   // 6 missing
          cursor.applied(6); seen.push(cursor.value);   // filled: 7
          cursor.applied(9); cursor.ready(8, false); seen.push(cursor.value);
          cursor.ready(3, true); seen.push(cursor.value);  // a fresh view
          return seen;
        }"""
    )
    assert values == [5, 5, 7, 9, 3]
