"""Search on the page: find a message in another room and open that room at it.

The target is 300 messages above the newest, far outside what ``ready`` sends, so the
room page has to load that part of history (``?at=SEQ``), scroll to the message and
highlight it, and then close the gap to the newest messages as the reader scrolls.
"""

from __future__ import annotations

import re

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

FILLER = 300


def test_search_finds_a_message_in_another_room_and_opens_it_there(
    server, open_ui, user, other_user, make_room
):
    make_room("general", title="General")
    random = make_room("random", title="Random")
    services.post_messages(
        [
            services.PostRequest(room_id=random.pk, author=other_user, body=f"filler {n}")
            for n in range(20)
        ]
    )
    target = services.post_message(
        room=random, author=other_user, body="the kubernetes upgrade is done"
    ).message
    services.post_messages(
        [
            services.PostRequest(room_id=random.pk, author=other_user, body=f"later {n}")
            for n in range(FILLER)
        ]
    )
    secret = make_room("secret", title="Secret", is_private=True)
    secret.members.add(other_user)
    services.post_message(room=secret, author=other_user, body="kubernetes secrets")

    alice = open_ui(server.url, user=user).open_room("general")
    alice.page.locator("#room-search-q").fill("kubernetes")
    alice.page.locator("#room-search-q").press("Enter")

    # One result: the other room's message, highlighted; the private room stays hidden.
    results = alice.page.locator("#search-results .search-result")
    expect(results).to_have_count(1)
    expect(results.locator("mark")).to_have_text("kubernetes")
    expect(results.locator(".search-result-room")).to_have_text("#Random")
    results.locator("a").click()

    page = alice.page
    expect(page).to_have_url(re.compile(rf"/rooms/random/\?at={target.seq}$"))
    alice.wait_state("live")
    expect(page.locator("body")).to_have_attribute("data-opened-at", str(target.seq))
    item = page.locator(f"#messages li.msg[data-seq='{target.seq}']")
    expect(item).to_have_class(re.compile(r"\bmsg--target\b"))
    expect(item.locator(".msg-body")).to_have_text("the kubernetes upgrade is done")
    expect(item).to_be_in_viewport()

    # The newest messages are there too, with a gap between them and the target's part.
    last_seq = target.seq + FILLER
    assert last_seq in alice.seqs()
    gap = page.locator("#messages .history-gap")
    expect(gap).to_have_count(1)

    # Scrolling down to the gap fills it, page by page, until the history is whole.
    def whole() -> bool:
        if gap.count():
            gap.scroll_into_view_if_needed()
        seqs = alice.seqs()
        return gap.count() == 0 and seqs == list(range(seqs[0], last_seq + 1))

    wait_until(whole, 20, "the gap to the newest messages filled")
    assert alice.seqs()[0] <= target.seq
