"""A moderator in a real browser handles a bad actor from the admin while he is connected.

The site runs in a daphne child (Redis mode, as in production); the bad actor holds a
real WebSocket to it; a staff moderator who is not a superuser works the admin in
headless Chromium: resolves his report by muting him, deletes his messages from the
Message changelist, and reads the audit trail. With ``SAVE_SCREENSHOTS=1`` the pages
are saved to ``docs/screenshots/admin-*.png`` (docs/moderation.md shows them).

    SAVE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/moderation/test_admin_browser.py
"""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.utils import timezone
from playwright.sync_api import expect
from websockets.sync.client import connect

from chat import services
from chat.models import Message, ModerationAction, Report, Room
from tests.helpers.sessions import session_cookie

pytestmark = [
    pytest.mark.browser,
    pytest.mark.processes,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SCREEN = {"width": 1600, "height": 760}
MODERATOR_PERMISSIONS = [
    "view_room",
    "change_room",
    "view_message",
    "change_message",
    "view_report",
    "change_report",
    "add_ban",
    "view_ban",
    "add_mute",
    "view_mute",
    "view_moderationaction",
]
SPAM = ["buy cheap watches at example.com", "CHEAP WATCHES example.com", "dm me for watches"]


def seed(make_user) -> dict:
    """A busy room with a spammer, three open reports and some history in the audit trail."""
    names = ("alice", "carol", "dave", "watchdeals", "ops")
    users = {name: make_user(name) for name in names}
    maria = make_user("maria", is_staff=True)
    maria.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="chat", codename__in=MODERATOR_PERMISSIONS
        )
    )
    ops = users["ops"]
    general = services.create_room(slug="general", title="General", by=ops)
    services.create_room(slug="book-club", title="Book club", by=ops)
    lines = [
        ("alice", "Morning all!"),
        ("carol", "Anyone tried the new deploy pipeline yet?"),
        ("watchdeals", SPAM[0]),
        ("dave", "Staging went from 12 minutes to 3."),
        ("watchdeals", SPAM[1]),
        ("alice", "Can someone deal with the watch guy?"),
        ("watchdeals", SPAM[2]),
    ]
    posted = {}
    for author, body in lines:
        posted[body] = services.post_message(room=general, author=users[author], body=body).message
    reports = [("alice", SPAM[0], "spam link"), ("carol", SPAM[1], "same spam again")]
    reports.append(("dave", SPAM[2], "asks people to DM him"))
    for reporter, body, reason in reports:
        services.report_message(
            message_id=posted[body].pk, room=general, by=users[reporter], reason=reason
        )
    # Earlier moderation, so the audit trail is not empty.
    services.set_room_state(room=general, by=ops, slow_mode_seconds=10, reason="busy evening")
    services.set_room_state(room=general, by=ops, slow_mode_seconds=0, reason="quiet again")
    ModerationAction.objects.update(created_at=timezone.now() - timedelta(hours=3))
    return {"users": users, "maria": maria, "general": general, "posted": posted}


class LiveUser:
    """A WebSocket client of the daphne child (sync, so it lives beside Playwright's API)."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.frames: list[dict] = []

    def send(self, **frame) -> None:
        self.ws.send(json.dumps(frame))

    def expect(self, type: str, timeout: float = 3.0, **match) -> dict:
        for frame in self.frames:
            if frame["type"] == type and all(frame.get(k) == v for k, v in match.items()):
                self.frames.remove(frame)
                return frame
        deadline = time.monotonic() + timeout
        while True:
            # TimeoutError when nothing matching came in time.
            frame = json.loads(self.ws.recv(timeout=max(0.0, deadline - time.monotonic())))
            if frame["type"] == type and all(frame.get(k) == v for k, v in match.items()):
                return frame
            self.frames.append(frame)


def run_action(page, action_label: str, pks: list[int], reason: str, length: str = "") -> None:
    """Tick rows, pick an action, type why (and for how long), as a moderator would."""
    for pk in pks:
        page.locator(f"input.action-select[value='{pk}']").check()
    page.locator("select[name=action]").select_option(label=action_label)
    page.locator("input[name=reason]").fill(reason)
    if length:
        page.locator("select[name=length]").select_option(label=length)


def test_a_moderator_handles_a_spammer_from_the_admin(server, browser, make_user, tmp_path):
    data = seed(make_user)
    out = DOCS if os.environ.get("SAVE_SCREENSHOTS") == "1" else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    spammer = data["users"]["watchdeals"]
    url, token = server.ws_url("/ws/rooms/general/"), services.issue_token(user=spammer)
    headers = {"Authorization": f"Bearer {token}"}
    with connect(url, additional_headers=headers, proxy=None) as ws:
        moderate(server, browser, data, LiveUser(ws), out)
    for name in ("admin-reports.png", "admin-messages.png", "admin-audit.png"):
        assert (out / name).stat().st_size > 10_000, name
    if out != DOCS:
        shutil.rmtree(out, ignore_errors=True)


def moderate(server, browser, data, live: LiveUser, out: Path) -> None:
    live.expect("ready")

    context = browser.new_context(base_url=server.url, viewport=SCREEN)
    context.set_default_timeout(10_000)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": session_cookie(data["maria"]),
                "url": server.url,
            }
        ]
    )
    page = context.new_page()
    try:
        # 1. The report queue: open reports, newest first, the action bar ready.
        page.goto("/admin/chat/report/?status__exact=open")
        rows = page.locator("#result_list tbody tr")
        expect(rows).to_have_count(3)
        expect(rows.first).to_contain_text("asks people to DM him")
        first = Report.objects.get(reason="spam link")
        run_action(page, "Resolve: mute the authors in the room", [first.pk], "spam links", "1 day")
        page.screenshot(path=str(out / "admin-reports.png"), full_page=True)
        page.locator("button[name=index]").click()
        expect(page.locator("ul.messagelist")).to_contain_text(
            "1 open report(s) resolved: authors muted."
        )
        live.send(type="message", body="why can't I post", client_id="w1")
        muted = live.expect("error", client_id="w1")
        assert muted["code"] == "muted" and muted["retry_after"] > 23 * 3600

        # 2. The Message changelist: his messages, found by author, deleted with a reason.
        page.goto("/admin/chat/message/?q=watchdeals")
        spam = [data["posted"][body].pk for body in SPAM]
        expect(page.locator("#result_list tbody tr")).to_have_count(3)
        expect(page.locator("select[name=length]")).to_have_count(0)  # deleting is not timed
        run_action(page, "Delete selected messages (tombstone, live)", spam, "watch spam")
        page.screenshot(path=str(out / "admin-messages.png"), full_page=True)
        page.locator("button[name=index]").click()
        expect(page.locator("ul.messagelist")).to_contain_text("3 message(s) deleted.")
        deleted = {live.expect("deleted", id=pk)["id"] for pk in spam}
        assert deleted == set(spam)
        assert Message.objects.filter(pk__in=spam, deleted_by=data["maria"]).count() == 3

        # 3. The audit trail: who did what, when, to whom and why.
        page.goto("/admin/chat/moderationaction/")
        rows = page.locator("#result_list tbody tr")
        expect(rows).to_have_count(7)  # 3 deletes, mute + report, 2 earlier slow mode changes
        expect(rows.first).to_contain_text("watch spam")
        expect(page.locator("#result_list")).to_contain_text("spam links")
        # What changed shows in the list, not only on each entry's page.
        expect(rows.nth(3)).to_contain_text("status: muted")  # the resolved report
        expect(rows.nth(4)).to_contain_text(" UTC")  # the mute, and until when
        expect(rows.last).to_contain_text("slow_mode_seconds: 0 → 10")
        page.screenshot(path=str(out / "admin-audit.png"), full_page=True)
        assert list(
            ModerationAction.objects.filter(actor=data["maria"]).values_list("kind", flat=True)
        ) == ["delete", "delete", "delete", "report", "mute"]  # newest first
        assert Room.objects.get(slug="general").is_locked is False
    finally:
        context.close()
