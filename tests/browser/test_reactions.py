"""Reactions on the room page: two people on two daphne processes over Redis."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.helpers.processes import DaphneServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.processes,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]


def test_a_reaction_shows_on_the_other_page_at_once_and_toggles(
    site_env, open_ui, user, other_user, room
):
    with DaphneServer(site_env) as server, DaphneServer(site_env) as other_server:
        alice = open_ui(server.url, user=user).open_room("lobby")
        bob = open_ui(other_server.url, user=other_user).open_room("lobby")
        alice.send("ship it")
        bob.wait_for_message("ship it")

        # Bob reacts with the keyboard: React, in the message's ⋯ menu, opens the
        # picker, whose options are arrow-key navigable; Enter picks one.
        opener = bob.message("ship it").get_by_role(
            "button", name="Actions for the message from alice"
        )
        opener.focus()
        bob.page.keyboard.press("Enter")  # the menu opens at Reply; React is next
        bob.page.keyboard.press("ArrowDown")
        expect(
            bob.message("ship it").get_by_role("menuitem", name="React to message from alice")
        ).to_be_focused()
        bob.page.keyboard.press("Enter")
        picker = bob.page.get_by_role("menu", name="Reactions")
        expect(picker).to_be_visible()
        expect(picker.get_by_role("menuitemcheckbox", name="👍")).to_be_focused()
        # Placed beside the ⋯ button (fixed, positioned from its box).
        near, box = opener.bounding_box(), picker.bounding_box()
        assert abs(box["y"] - (near["y"] + near["height"])) < 12, (near, box)
        bob.page.keyboard.press("ArrowRight")
        bob.page.keyboard.press("ArrowLeft")
        bob.page.keyboard.press("Enter")
        expect(picker).to_be_hidden()

        mine = bob.message("ship it").locator(".reaction-chip[data-emoji='👍']")
        expect(mine).to_have_attribute("aria-pressed", "true")
        expect(mine).to_have_text("👍1")
        theirs = alice.message("ship it").locator(".reaction-chip[data-emoji='👍']")
        expect(theirs).to_have_text("👍1", timeout=5_000)
        expect(theirs).to_have_attribute("aria-pressed", "false")
        expect(theirs).to_have_attribute("title", "bob reacted with 👍")

        # Alice adds hers with a click on the chip; both see two, with names.
        theirs.click()
        expect(mine).to_have_text("👍2")
        expect(mine).to_have_attribute("title", "you and alice reacted with 👍")
        expect(theirs).to_have_attribute("aria-pressed", "true")

        # Bob takes his back; the "+" chip opens the picker with the rest of the set.
        mine.click()
        expect(theirs).to_have_text("👍1")
        expect(theirs).to_have_attribute("title", "you reacted with 👍")
        expect(mine).to_have_attribute("aria-pressed", "false")
        bob.message("ship it").locator(".reaction-add").click()
        picker.get_by_role("menuitemcheckbox", name="🎉").click()
        party = alice.message("ship it").locator(".reaction-chip[data-emoji='🎉']")
        expect(party).to_have_text("🎉1")

        # A reload shows the current state (ready, from the history cache).
        alice.page.reload()
        alice.wait_state("live")
        chips = alice.message("ship it").locator(".reaction-chip:not(.reaction-add)")
        expect(chips).to_have_text(["👍1", "🎉1"])


# The timeline's own rules, on a scratch list in a real page (no server traffic).
TIMELINE_SCRIPT = """async () => {
  const { Timeline } = await import("/static/chat/js/timeline.js");
  const scroller = document.createElement("div");
  const list = document.createElement("ol");
  scroller.append(list);
  document.body.append(scroller);
  const timeline = new Timeline({
    scroller, list, edge: document.createElement("p"), newButton: document.createElement("button"),
    me: "bob", isModerator: false, onNeedOlder: () => false, onAction: () => {},
  });
  const message = (seq, reactions) => ({
    id: 100 + seq, seq, room: "lobby", user: "alice", body: `m${seq}`,
    ts: "2026-12-07T08:00:00.000Z", client_id: null, ...(reactions ? { reactions } : {}),
  });
  const chips = (seq) => [...list.querySelectorAll(`li[data-seq="${seq}"] .reaction-chip`)]
    .map((chip) => chip.textContent);
  const thumbs = [{ emoji: "👍", count: 1, users: ["carol"] }];
  timeline.reset([message(1)], false);
  const applied = timeline.applyUpdate(message(1, thumbs));
  // An update that overtook its message waits for it, then wins over its older state.
  const early = timeline.applyUpdate(message(2, thumbs));
  timeline.addLive(message(2));
  const result = { applied, early, one: chips(1), two: chips(2) };
  scroller.remove();
  return result;
}"""


def test_the_timeline_applies_updates_by_id_even_when_they_overtake_the_message(
    server, open_ui, user, room
):
    alice = open_ui(server.url, user=user).open_room("lobby")
    assert alice.page.evaluate(TIMELINE_SCRIPT) == {
        "applied": True,
        "early": False,
        "one": ["👍1", "+"],
        "two": ["👍1", "+"],
    }
