"""The room page by keyboard: the composer has the focus on open, the timeline is one
stop for Tab however many messages it holds, and each message's actions are one "⋯"
menu button (Enter, Space or ArrowDown open it, arrows move, Escape closes)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chat import services
from tests.helpers.wait import wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.processes,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]

# From the page's start: skip link, brand, header links, the search form (3), the
# timeline, the current message, its "⋯", the sidebar (one stop, however many
# rooms). A little room for what other parts of the page add.
MAX_TABS = 16


def tabs_to_composer(ui) -> int:
    """Tab presses from the top of the page until the composer has the focus."""
    ui.page.evaluate("() => { document.activeElement.blur(); window.scrollTo(0, 0); }")
    for presses in range(1, 400):
        ui.page.keyboard.press("Tab")
        if ui.page.evaluate("() => document.activeElement.id") == "composer-input":
            return presses
    raise AssertionError("Tab never reached the composer")


def post(room, author, count, start=0):
    services.post_messages(
        [
            services.PostRequest(
                room_id=room.pk, author=author, body=f"note {n} https://example.com/{n}"
            )
            for n in range(start, start + count)
        ]
    )


@pytest.mark.parametrize("moderator", [False, True], ids=["member", "moderator"])
def test_tabs_to_the_composer_are_few_and_do_not_grow_with_messages(
    server, open_ui, user, other_user, room, moderator
):
    if moderator:
        room.moderators.add(user)
    post(room, other_user, 3)
    alice = open_ui(server.url, user=user).open_room("lobby")
    expect(alice.composer).to_be_focused()
    wait_until(lambda: len(alice.seqs()) == 3, 10, "3 messages")
    few = tabs_to_composer(alice)

    post(room, other_user, 57, start=3)
    alice.page.reload()
    alice.wait_state("live")
    expect(alice.composer).to_be_focused()
    wait_until(lambda: len(alice.seqs()) == 50, 10, "50 messages on the page")
    many = tabs_to_composer(alice)
    assert few == many <= MAX_TABS


def test_the_actions_menu_works_by_keyboard(server, open_ui, user, other_user, room):
    room.moderators.add(user)
    post(room, other_user, 3)
    alice = open_ui(server.url, user=user).open_room("lobby")
    page = alice.page
    wait_until(lambda: len(alice.seqs()) == 3, 10, "3 messages")

    # Tab from the newest message reaches its link, then its "⋯" button.
    newest = alice.message("note 2")
    newest.focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    button = newest.get_by_role("button", name="Actions for the message from bob")
    expect(button).to_be_focused()
    expect(button).to_have_attribute("aria-haspopup", "menu")
    expect(button).to_have_attribute("aria-expanded", "false")

    # ArrowDown opens at the first item; the arrows move and wrap; Escape closes.
    page.keyboard.press("ArrowDown")
    menu = newest.get_by_role("menu")
    expect(menu).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    items = menu.get_by_role("menuitem")
    expect(items).to_have_text(["Reply", "React", "Message", "Report", "Delete", "Mute", "Ban"])
    expect(items.nth(0)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(items.nth(1)).to_be_focused()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(items.nth(6)).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(button).to_be_focused()

    # Enter opens it too; Enter on "Delete" opens the dialog, whose Escape comes back
    # to the "⋯" button.
    page.keyboard.press("Enter")
    expect(items.nth(0)).to_be_focused()
    for _ in range(4):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    dialog = page.locator("#action-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#dialog-title")).to_have_text("Delete message")
    expect(menu).to_be_hidden()
    # The page gives the focus back in the dialog's "close" event, a task queued after
    # the native close: wait for it, or it may land after the next key and take the
    # focus out of the menu that key opens (seen once on a loaded machine).
    page.evaluate(
        """() => { window.dialogClosed = false;
        document.querySelector("#action-dialog").addEventListener(
            "close", () => { window.dialogClosed = true; }, { once: true }); }"""
    )
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.wait_for_function("() => window.dialogClosed")
    expect(button).to_be_focused()

    # Space opens it as well; Tab closes it.
    page.keyboard.press(" ")
    expect(menu).to_be_visible()
    page.keyboard.press("Tab")
    expect(menu).to_be_hidden()

    # On a message, ArrowUp moves to the previous one, which becomes the Tab stop.
    newest.focus()
    page.keyboard.press("ArrowUp")
    expect(alice.message("note 1")).to_be_focused()
    assert page.eval_on_selector_all(
        "#messages [tabindex='0']", "nodes => nodes.map(n => n.className.split(' ')[0])"
    ) == ["msg", "msg-link", "msg-menu-button"]
    assert (
        page.evaluate("() => document.querySelectorAll('#messages .msg-menu-button').length") == 3
    )


def test_grouped_lines_keep_their_time_on_one_line(server, open_ui, user, other_user, room):
    post(room, other_user, 2)
    alice = open_ui(server.url, user=user).open_room("lobby")
    wait_until(lambda: len(alice.seqs()) == 2, 10, "2 messages")
    second = alice.message("note 1")
    second.hover()
    side = second.locator(".msg-side-time")
    expect(side).to_be_visible()
    # Line boxes of the time's text: their distinct tops.
    lines = side.evaluate(
        """n => {
            const range = document.createRange();
            range.selectNodeContents(n);
            return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
        }"""
    )
    assert lines == 1, side.text_content()
