"""The room page in headless Chromium against real daphne processes in Redis mode.

Two people in two browser contexts: signing up, chatting both ways, presence and
typing, history on reload and on scroll-up, a server restart in the middle of
typing, hostile message bodies, and live moderation.
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
    pytest.mark.timeout(90),
]

PASSWORD = "a-long-unusual-pass-1"


def test_two_people_sign_up_and_chat_both_ways(server, open_ui):
    alice = open_ui(server.url)
    alice.page.goto("/accounts/signup/")
    alice.sign_up("alice", PASSWORD)
    expect(alice.page).to_have_url(f"{server.url}/")
    # The lobby suggests the address from the title.
    alice.page.get_by_label("Title").fill("Book club")
    expect(alice.page.locator("#id_slug")).to_have_value("book-club")
    alice.page.get_by_role("button", name="Create room").click()
    expect(alice.page).to_have_url(f"{server.url}/rooms/book-club/")
    alice.wait_state("live")

    # Bob follows a link to the room, signs up on the way and lands in it.
    bob = open_ui(server.url)
    bob.page.goto("/rooms/book-club/")
    expect(bob.page).to_have_url(f"{server.url}/accounts/login/?next=/rooms/book-club/")
    bob.page.get_by_role("link", name="Create an account").click()
    bob.sign_up("bob", PASSWORD)
    expect(bob.page).to_have_url(f"{server.url}/rooms/book-club/")
    bob.wait_state("live")

    wait_until(lambda: alice.online() == ["alice", "bob"], 10, "bob in alice's online list")
    assert bob.online() == ["alice", "bob"]

    alice.send("Hi Bob, finished the book?")
    bob.wait_for_message("Hi Bob, finished the book?")
    bob.send("Almost!\nTwo chapters left.")
    alice.wait_for_message("Almost!\nTwo chapters left.")
    alice.wait_confirmed()
    bob.wait_confirmed()
    expected = ["Hi Bob, finished the book?", "Almost!\nTwo chapters left."]
    assert alice.bodies() == expected
    assert bob.bodies() == expected

    # Typing shows on the other side, and expires about 6 s after the last keystroke.
    alice.composer.press_sequentially("No spoil")
    expect(bob.page.locator("#typing")).to_have_text("alice is typing…")
    expect(bob.page.locator("#typing")).to_have_text("", timeout=10_000)
    assert alice.composer.input_value() == "No spoil"

    # A reload shows the same history.
    bob.page.reload()
    bob.wait_state("live")
    wait_until(lambda: bob.bodies() == expected, 10, "history after reload")


def test_scrolling_up_loads_older_pages_without_moving_the_view(server, open_ui, user, room):
    services.post_messages(
        [
            services.PostRequest(room_id=room.pk, author=user, body=f"message {n}")
            for n in range(1, 131)
        ]
    )
    alice = open_ui(server.url, user=user).open_room("lobby")
    # ready carries the latest 50 (CHAT_READY_HISTORY), scrolled to the bottom.
    wait_until(lambda: alice.seqs() == list(range(81, 131)), 10, "the latest 50 messages")

    def scroll_to_top() -> float:
        """Scroll up, and where the first message's text is on screen right then."""
        return alice.page.evaluate(
            """() => {
                document.getElementById("timeline").scrollTop = 0;
                return document.querySelector("#messages .msg-body").getBoundingClientRect().top;
            }"""
        )

    top_before = scroll_to_top()
    wait_until(lambda: alice.seqs() == list(range(31, 131)), 10, "one older page")
    # The text that was at the top is still exactly where the reader saw it (its
    # header folds away, as message 80 by the same author now comes before it).
    top_after = alice.page.evaluate(
        """() => document.querySelector('#messages li.msg[data-seq="81"] .msg-body')
                    .getBoundingClientRect().top"""
    )
    assert abs(top_after - top_before) <= 1

    scroll_to_top()
    wait_until(lambda: alice.seqs() == list(range(1, 131)), 10, "the oldest page")
    expect(alice.page.locator("#history-edge")).to_have_text("This is the start of the room.")


def test_server_restart_while_typing_loses_and_doubles_nothing(
    site_env, open_ui, user, other_user, room
):
    # Alice's page talks to `server`; Bob's to a second process sharing Redis and the
    # database, so Bob can keep chatting while Alice's server is down. Recovery is
    # limited to 3 missed messages, so a second, longer outage cannot be caught up.
    env = site_env | {"CHAT_RECOVERY_LIMIT": "3"}
    with DaphneServer(env) as server, DaphneServer(env) as other_server:
        alice = open_ui(server.url, user=user).open_room("lobby")
        bob = open_ui(other_server.url, user=other_user).open_room("lobby")
        wait_until(lambda: "bob" in alice.online(), 10, "bob online on alice's page")
        alice.send("before the restart")
        bob.wait_for_message("before the restart")

        alice.composer.press_sequentially("typed before")
        server.stop()
        expect(alice.page.locator("#connection-text")).to_contain_text("Reconnecting in")
        alice.composer.press_sequentially(", sent while offline")
        alice.composer.press("Enter")
        expect(alice.message("typed before, sent while offline")).to_contain_text(
            "Will send when reconnected"
        )

        bob.send("while you were away 1")
        bob.send("while you were away 2")
        bob.wait_confirmed()

        server.start()
        alice.wait_state("live", timeout=30_000)
        alice.wait_for_message("while you were away 2")
        bob.wait_for_message("typed before, sent while offline")
        alice.wait_confirmed()
        # Anything doubled would arrive before a later message: send one and wait for it.
        bob.send("last")
        alice.wait_for_message("last")

        expected = [
            "before the restart",
            "while you were away 1",
            "while you were away 2",
            "typed before, sent while offline",
            "last",
        ]
        assert alice.bodies() == expected
        assert bob.bodies() == expected
        assert alice.seqs() == [1, 2, 3, 4, 5]
        assert Message.objects.filter(body="typed before, sent while offline").count() == 1
        # Caught up with ?since (recovered), not by reloading the view.
        expect(alice.page.locator("#notice")).to_be_hidden()

        # Four missed messages are more than the server recovers: the page reloads the
        # conversation and says so, still showing each message once.
        server.stop()
        expect(alice.page.locator("#connection-text")).to_contain_text("Reconnecting in")
        missed = [f"missed {n}" for n in range(1, 5)]
        for body in missed:
            bob.send(body)
        bob.wait_confirmed()
        server.start()
        alice.wait_state("live", timeout=30_000)
        expect(alice.page.locator("#notice")).to_contain_text("reloaded with the latest messages")
        wait_until(lambda: alice.bodies() == expected + missed, 10, "the reloaded conversation")
        assert alice.seqs() == list(range(1, 10))


def test_html_in_messages_is_shown_as_text(server, open_ui, user, other_user, room):
    alice = open_ui(server.url, user=user).open_room("lobby")
    bob = open_ui(server.url, user=other_user).open_room("lobby")
    hostile = ["<img src=x onerror=alert(1)>", "<script>alert(2)</script>"]
    for body in hostile:
        alice.send(body)
    for ui in (alice, bob):
        wait_until(lambda ui=ui: ui.bodies() == hostile, 10, "both hostile bodies as text")
        assert ui.page.locator("#messages img, #messages script").count() == 0
    # open_ui's teardown also fails the test if any page opened a dialog.
    assert alice.dialogs == bob.dialogs == []


def test_moderator_deletes_and_bans_live(server, open_ui, user, other_user, room):
    room.moderators.add(user)
    alice = open_ui(server.url, user=user).open_room("lobby")
    bob = open_ui(server.url, user=other_user).open_room("lobby")
    bob.send("buy cheap watches")
    alice.wait_for_message("buy cheap watches")

    # Keyboard only: focus the message's actions button, open its menu, pick Delete.
    message = alice.message("buy cheap watches")
    message.get_by_role("button", name="Actions for the message from bob").focus()
    alice.page.keyboard.press("Enter")
    message.get_by_role("menuitem", name="Delete message from bob").focus()
    alice.page.keyboard.press("Enter")
    dialog = alice.page.locator("#action-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Reason").fill("spam")
    dialog.get_by_role("button", name="Delete").click()

    expect(bob.page.locator("#messages li.msg--deleted")).to_have_text("message deleted")
    wait_until(lambda: bob.bodies() == [], 5, "the message gone from bob's page")
    expect(alice.page.locator("#messages li.msg--deleted")).to_have_count(1)

    bob.send("you can't stop me")
    alice.wait_for_message("you can't stop me")
    alice.message("you can't stop me").hover()
    alice.message("you can't stop me").get_by_role("button", name="Actions for").click()
    alice.message("you can't stop me").get_by_role("menuitem", name="Ban bob").click()
    dialog.get_by_role("button", name="Ban").click()
    bob.wait_state("closed")
    expect(bob.page.locator("#notice")).to_contain_text("banned")
    expect(bob.page.locator("#composer-input")).to_be_disabled()


def test_limits_and_a_locked_room_show_before_sending(
    site_env, open_ui, user, other_user, make_room
):
    room = make_room("quiet", is_locked=True)
    room.moderators.add(user)
    limits = {"CHAT_MAX_MESSAGE_LENGTH": "20", "CHAT_RATE_LIMIT": "3/1h"}
    with DaphneServer(site_env | limits) as server:
        # Locked: bob reads only; alice moderates, so she may still write.
        bob = open_ui(server.url, user=other_user).open_room("quiet")
        expect(bob.page.locator("#room-locked")).to_be_visible()
        expect(bob.composer).to_be_disabled()
        expect(bob.page.locator("#composer-hint")).to_have_text(
            "This room is read-only: only moderators can write."
        )
        alice = open_ui(server.url, user=user).open_room("quiet")
        expect(alice.composer).to_be_enabled()

        # Too long is shown while typing, and Enter does nothing.
        alice.composer.press_sequentially("x" * 25)
        expect(alice.page.locator("#composer-counter")).to_have_text("25 / 20")
        expect(alice.page.locator("#composer-hint")).to_have_text(
            "5 characters over the limit of 20"
        )
        expect(alice.page.locator("#composer-send")).to_be_disabled()
        alice.composer.press("Enter")
        assert alice.page.locator("#messages li.msg").count() == 0
        alice.composer.fill("")

        # The fourth message in the window is refused: failed with a retry, and a countdown.
        for n in range(1, 5):
            alice.send(f"note {n}")
        failed = alice.message("note 4")
        expect(failed).to_contain_text("Not sent: too many messages")
        expect(failed.get_by_role("button", name="Retry sending this message")).to_be_visible()
        expect(alice.page.locator("#composer-hint")).to_contain_text(
            "Slow down: you can send again in"
        )
        bob.wait_for_message("note 3")
        assert bob.bodies() == ["note 1", "note 2", "note 3"]
