"""Screenshots of the lobby and a busy room, and the layout at 360 px.

Every run checks that neither page scrolls sideways on a 360 px phone. With
``SAVE_SCREENSHOTS=1`` the pictures are written to ``docs/screenshots/`` (the ones
the README shows); otherwise to a temporary directory.

    SAVE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/browser/test_screenshots.py
"""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from chat import reactions, services
from chat.models import Mention, Message, ReadPosition, Room
from tests.helpers.wait import wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.processes,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PHONE = {"width": 360, "height": 740}
LAPTOP = {"width": 1280, "height": 800}

ROOMS = [
    # slug, title, description, minutes since the last message (None: never), extra fields
    ("general", "General", "Everything and nothing. Be kind.", 0, {}),
    ("book-club", "Book club", "This month: The Left Hand of Darkness", 25, {}),
    ("rust-learners", "Rust learners", "Ownership questions always welcome", 190, {}),
    (
        "design-critique",
        "Design critique",
        "Share work in progress",
        2 * 24 * 60,
        {"is_private": True},
    ),
    (
        "announcements",
        "Announcements",
        "Release notes and maintenance windows",
        None,
        {"is_locked": True},
    ),
]

# (author, body, minutes ago) — consecutive lines by one author are grouped on the page.
CONVERSATION = [
    ("carol", "Morning all!", 42),
    ("carol", "Anyone tried the new deploy pipeline yet?", 41),
    ("bob", "Yes! Staging went from 12 minutes to 3.", 38),
    ("bob", "The cache step was the big win.", 38),
    ("alice", "Nice. Did the flaky integration test go away too?", 30),
    ("dave", "Mostly. It still times out when Redis restarts mid-run; I'm on it.", 27),
    ("carol", "Is it this run? https://ci.example.com/runs/4821", 26),
    (
        "dave",
        "That one. The client now reconnects with backoff and picks up where it left off:\n"
        '```\nws = connect(f"{url}?since={last_seq}")\n```\n'
        "**No reload**, and `since` makes it *exact*.",
        24,
    ),
    ("bob", "buy cheap watches", 20),
    ("alice", "Great work, everyone.\nI'll write it up for the Friday notes.", 12),
    ("erin", "Late to this: does the pipeline run the browser tests too?", 3),
]


def seed(make_user) -> dict:
    users = {name: make_user(name) for name in ("alice", "bob", "carol", "dave", "erin")}
    now = timezone.now()
    rooms = {}
    for slug, title, description, minutes, extra in ROOMS:
        room = services.create_room(
            slug=slug, title=title, description=description, by=users["alice"]
        )
        Room.objects.filter(pk=room.pk).update(
            last_message_at=None if minutes is None else now - timedelta(minutes=minutes), **extra
        )
        rooms[slug] = room
    general = rooms["general"]
    results = services.post_messages(
        [
            services.PostRequest(room_id=general.pk, author=users[author], body=body)
            for author, body, _ in CONVERSATION
        ]
    )
    for result, (_, _, minutes) in zip(results, CONVERSATION, strict=True):
        Message.objects.filter(pk=result.message.pk).update(
            created_at=now - timedelta(minutes=minutes)
        )
    spam = next(r.message for r in results if r.message.body == "buy cheap watches")
    services.delete_message(message=spam, by=users["alice"], reason="spam")
    seed_reply_and_reactions(users, general, results)
    seed_unread(users, rooms, now)
    return users


def seed_reply_and_reactions(users: dict, general, results) -> None:
    """A reply quoting bob's news, and reactions to alice's thanks (issue 15's screenshots)."""
    news = next(r.message for r in results if r.message.body.startswith("Yes! Staging"))
    thanks = next(r.message for r in results if r.message.body.startswith("Great work"))
    for name, emoji in (("bob", "🎉"), ("carol", "🎉"), ("dave", "🎉"), ("erin", "👍")):
        reactions.set_reaction(message=thanks, user=users[name], emoji=emoji, active=True)
    services.post_message(
        room=general,
        author=users["carol"],
        body="@bob that is the best news this week",
        reply_to=news.pk,
    )


def seed_unread(users: dict, rooms: dict, now) -> None:
    """Alice's sidebar: she read General up to her own last line; the book club has
    news for her, one line mentioning her."""
    book = rooms["book-club"]
    for author, body in (("erin", "Chapter 3 tonight?"), ("bob", "@alice you picked this one!")):
        message = services.post_message(room=book, author=users[author], body=body).message
    Mention.objects.get_or_create(message=message, user=users["alice"], room=book, seq=message.seq)
    Room.objects.filter(pk=book.pk).update(last_message_at=now - timedelta(minutes=25))
    read = Message.objects.get(room=rooms["general"], body__startswith="Great work").seq
    for slug, seq in (("general", read), ("book-club", 0), ("rust-learners", 0)):
        ReadPosition.objects.create(user=users["alice"], room=rooms[slug], seq=seq)


def no_sideways_scroll(ui) -> bool:
    return ui.page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def test_lobby_and_busy_room(server, open_ui, make_user, tmp_path):
    users = seed(make_user)
    out = DOCS if os.environ.get("SAVE_SCREENSHOTS") == "1" else tmp_path
    out.mkdir(parents=True, exist_ok=True)

    alice = open_ui(server.url, user=users["alice"], viewport=LAPTOP).open_room("general")
    others = {
        name: open_ui(server.url, user=users[name]).open_room(slug)
        for name, slug in (
            ("bob", "general"),
            ("carol", "general"),
            ("dave", "general"),
            ("erin", "book-club"),
        )
    }
    wait_until(lambda: alice.online() == ["alice", "bob", "carol", "dave"], 10, "four online")

    others["bob"].send("Yes: headless Chromium against a real daphne, both directions.")
    alice.wait_for_message("Yes: headless Chromium against a real daphne, both directions.")
    others["carol"].composer.press_sequentially("Can we")
    expect(alice.page.locator("#typing")).to_have_text("carol is typing…")
    alice.page.locator("#composer-input").fill("Thanks!")
    alice.page.screenshot(path=str(out / "room.png"))

    lobby = open_ui(server.url, user=users["alice"], viewport=LAPTOP)
    lobby.page.goto("/")
    expect(lobby.page.locator(".room-card").first).to_contain_text("4 online")
    lobby.page.screenshot(path=str(out / "lobby.png"), full_page=True)

    # A phone, in dark mode: nothing may need sideways scrolling.
    phone = open_ui(server.url, user=users["dave"], viewport=PHONE)
    phone.page.emulate_media(color_scheme="dark")
    phone.page.goto("/")
    assert no_sideways_scroll(phone), "the lobby scrolls sideways at 360 px"
    phone.open_room("general")
    wait_until(lambda: len(phone.bodies()) == len(CONVERSATION) + 1, 10, "history on the phone")
    assert no_sideways_scroll(phone), "the room scrolls sideways at 360 px"
    phone.page.screenshot(path=str(out / "room-phone-dark.png"))

    for name in ("room.png", "lobby.png", "room-phone-dark.png"):
        assert (out / name).stat().st_size > 10_000, name
    if out != DOCS:
        shutil.rmtree(out, ignore_errors=True)
