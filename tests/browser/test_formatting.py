"""The markdown subset on the room page: built as DOM nodes, hostile text stays text."""

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

BODIES = [
    "**bold** and *italic* and `a <b>code</b> span`",
    "```py\nprint('<b>hi</b>')  # **not bold**\n```",
    "> quoted **text**\nafter the quote",
    "see https://example.com/a?b=1. and [the docs](https://example.org/x)",
    "[click](javascript:alert(1)) javascript:alert(2) data:text/html,<b>x</b>",
    "<img src=x onerror=alert(1)> **unclosed and `lone and *half",
    "2 * 3 * 4 = 24",
]


def test_formatting_renders_as_nodes_and_hostile_text_stays_inert(server, open_ui, user, room):
    for body in BODIES:
        services.post_message(room=room, author=user, body=body)
    ui = open_ui(server.url, user=user).open_room("lobby")
    page = ui.page
    items = page.locator("#messages li.msg .msg-body")
    expect(items).to_have_count(len(BODIES))

    first = items.nth(0)
    expect(first.locator("strong")).to_have_text("bold")
    expect(first.locator("em")).to_have_text("italic")
    expect(first.locator("code")).to_have_text("a <b>code</b> span")

    block = items.nth(1).locator("pre.msg-code-block code")
    expect(block).to_have_text("print('<b>hi</b>')  # **not bold**")
    expect(block).to_have_attribute("data-lang", "py")
    assert items.nth(1).locator("b, strong").count() == 0

    quote = items.nth(2).locator("blockquote.msg-quote")
    expect(quote).to_have_text("quoted text")
    expect(quote.locator("strong")).to_have_text("text")
    expect(items.nth(2)).to_contain_text("after the quote")

    links = items.nth(3).locator("a")
    expect(links).to_have_count(2)
    assert [links.nth(n).get_attribute("href") for n in range(2)] == [
        "https://example.com/a?b=1",
        "https://example.org/x",
    ]
    expect(links.nth(1)).to_have_text("the docs")
    assert links.nth(0).get_attribute("rel") == "noopener noreferrer nofollow"

    # javascript: and data: never become links; markup and unclosed markers stay text.
    for n in (4, 5, 6):
        assert items.nth(n).evaluate("node => node.textContent") == BODIES[n]
    assert page.locator("#messages a[href^='javascript'], #messages a[href^='data']").count() == 0
    assert page.locator("#messages img, #messages script, #messages b").count() == 0
    assert items.nth(5).locator("strong, em, code").count() == 0
    assert items.nth(6).locator("em").count() == 0

    # A message typed on the page is stored as typed and formatted the same way.
    ui.send("**live** with `code`")
    expect(page.locator("#messages li.msg").last.locator("strong")).to_have_text("live")
    ui.wait_confirmed()
    wait_until(
        lambda: room.messages.filter(body="**live** with `code`").exists(), 5, "stored as typed"
    )
    # open_ui's teardown fails the test if any page raised a script error or a dialog.
