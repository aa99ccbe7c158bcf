"""The chat's admin changelists fit a 1280 px laptop screen: no sideways scrolling,
long text cut to one line (with the whole text on hover), dates on one line."""

from __future__ import annotations

import pytest
from django.conf import settings
from playwright.sync_api import expect

from chat import services
from tests.helpers.sessions import session_cookie

pytestmark = [
    pytest.mark.browser,
    pytest.mark.processes,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]

LAPTOP = {"width": 1280, "height": 800}
LONG = (
    "this is a rather long message that somebody wrote in a hurry, and then reported, "
    "and it goes on and on about watches, deals and links that nobody asked for"
)
CHANGELISTS = ["room", "message", "report", "ban", "mute", "moderationaction", "apitoken"]


def seed(make_user) -> None:
    admin = make_user("maria-the-moderator-with-a-long-name", is_staff=True, is_superuser=True)
    spammer = make_user("watchdeals-incorporated-limited")
    room = services.create_room(
        slug="general-discussion-for-everyone", title="General discussion for everyone", by=admin
    )
    for n in range(3):
        message = services.post_message(room=room, author=spammer, body=f"{n} {LONG}").message
        services.report_message(message_id=message.pk, room=room, by=admin, reason=LONG)
    services.mute_user(room=room, user=spammer, by=admin, reason=LONG)
    services.ban_user(room=room, user=spammer, by=admin, reason=LONG)
    services.issue_token(user=spammer)
    return admin


def test_changelists_fit_a_laptop_screen(server, browser, make_user, tmp_path):
    admin = seed(make_user)
    context = browser.new_context(base_url=server.url, viewport=LAPTOP)
    context.set_default_timeout(10_000)
    cookie = {"name": settings.SESSION_COOKIE_NAME, "value": session_cookie(admin)}
    context.add_cookies([cookie | {"url": server.url}])
    page = context.new_page()
    problems = []
    try:
        for name in CHANGELISTS:
            page.goto(f"/admin/chat/{name}/")
            expect(page.locator("#result_list")).to_be_visible()
            page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
            overflow = page.evaluate(
                """() => Math.max(
                    ...[document.documentElement, document.querySelector('#changelist .results')]
                        .map(n => n.scrollWidth - n.clientWidth))"""
            )
            if overflow > 0:
                problems.append(f"{name}: the list scrolls sideways by {overflow} px")
            # No row grows past two lines: long text is cut, dates do not wrap.
            tallest = page.evaluate(
                """() => Math.max(...[...document.querySelectorAll('#result_list tbody tr')]
                        .map(r => r.getBoundingClientRect().height))"""
            )
            if tallest > 48:
                problems.append(f"{name}: a row is {tallest} px tall")
        assert problems == [], "\n".join(problems)
        # The cut text is all there on hover.
        page.goto("/admin/chat/report/")
        cell = page.locator("#result_list td.field-reason_text span").first
        expect(cell).to_have_attribute("title", LONG)
    finally:
        context.close()
