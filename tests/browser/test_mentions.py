"""@mentions on the room page: autocomplete, highlight, and a notification in a hidden tab.

Headless Chromium always reports its pages as visible (neither a second tab in front,
a minimised window nor CDP's focus emulation or lifecycle states change
``document.visibilityState``), so an init script overrides ``document.hidden`` and
``visibilityState`` on the page under test and fires ``visibilitychange``. The
notification permission is granted to the context by Playwright
(``BrowserContext.grant_permissions``, CDP ``Browser.grantPermissions``), and
``window.Notification`` is wrapped to record each notification (the real one is still
constructed) and each permission request.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.helpers.wait import wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.processes,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]

MENTIONED = re.compile(r"\bmsg--mention\b")

RECORDER = """
(() => {
  let hidden = false;
  Object.defineProperty(Document.prototype, "hidden", { get: () => hidden, configurable: true });
  Object.defineProperty(Document.prototype, "visibilityState", {
    get: () => (hidden ? "hidden" : "visible"), configurable: true,
  });
  window.__setHidden = (value) => {
    hidden = value;
    document.dispatchEvent(new Event("visibilitychange"));
  };
  window.__notes = [];
  window.__permissionRequests = 0;
  const Real = window.Notification;
  const request = Real.requestPermission.bind(Real);
  class Recorded extends Real {
    constructor(title, options = {}) {
      super(title, options);
      window.__notes.push({ title, body: options.body });
    }
    static requestPermission(...args) {
      window.__permissionRequests += 1;
      return request(...args);
    }
  }
  window.Notification = Recorded;
})();
"""


def notes(ui) -> list[dict]:
    return ui.page.evaluate("window.__notes")


def test_mention_autocompletes_highlights_and_notifies_in_a_hidden_tab(
    server, open_ui, user, other_user, room
):
    room.moderators.add(user)
    bob = open_ui(server.url, user=other_user)
    bob.page.add_init_script(RECORDER)
    bob.open_room("lobby")
    # A clear control, and no permission request on page load.
    enable = bob.page.get_by_role("button", name="Enable notifications")
    expect(enable).to_be_visible()
    assert bob.page.evaluate("window.__permissionRequests") == 0
    bob.page.context.grant_permissions(["notifications"], origin=server.url)
    enable.click()
    expect(bob.page.locator("#notify-status")).to_have_text("Notifications on for mentions")
    expect(enable).to_be_hidden()
    assert bob.page.evaluate("window.__permissionRequests") == 1

    alice = open_ui(server.url, user=user).open_room("lobby")
    wait_until(lambda: alice.online() == ["alice", "bob"], 10, "bob online for alice")

    # "@" offers @room (alice moderates) and bob; arrows move, Escape closes, Tab picks.
    options = alice.page.locator("#mention-list [role=option]")
    alice.composer.click()
    alice.composer.press_sequentially("@")
    expect(options).to_have_count(2)
    assert [options.nth(n).get_attribute("data-name") for n in range(2)] == ["room", "bob"]
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    alice.composer.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    alice.composer.press("Escape")
    expect(alice.page.locator("#mention-list")).to_be_hidden()
    alice.composer.press_sequentially("b")
    expect(options).to_have_count(1)
    alice.composer.press("Tab")
    assert alice.composer.input_value() == "@bob "
    alice.composer.press_sequentially("look at this")
    alice.composer.press("Enter")  # the list is closed: Enter sends
    bob.wait_for_message("@bob look at this")

    # Highlighted for bob (message and name); a plain mention of someone else for alice.
    mine = bob.message("@bob look at this")
    expect(mine).to_have_class(MENTIONED)
    expect(mine.locator(".mention.mention--me")).to_have_text("@bob")
    theirs = alice.message("@bob look at this")
    expect(theirs.locator(".mention")).to_have_text("@bob")
    expect(theirs).not_to_have_class(MENTIONED)
    assert notes(bob) == []  # bob is looking: no notification

    # Bob switches away: a mention raises a notification, other messages do not.
    bob.page.evaluate("window.__setHidden(true)")
    alice.send("@bob are you there?")
    wait_until(lambda: len(notes(bob)) == 1, 10, "a notification for the mention")
    assert notes(bob)[0] == {
        "title": "alice mentioned you in #lobby",
        "body": "@bob are you there?",
    }
    alice.send("nothing for bob here")
    alice.send("@room standup in 5")
    wait_until(lambda: len(notes(bob)) == 2, 10, "a notification for @room")
    assert notes(bob)[1]["body"] == "@room standup in 5"
    bob.wait_for_message("nothing for bob here")
    assert len(notes(bob)) == 2
    expect(bob.message("@room standup in 5")).to_have_class(MENTIONED)
    expect(bob.message("nothing for bob here")).not_to_have_class(MENTIONED)
