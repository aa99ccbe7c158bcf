"""The report flow end to end: a user reports a message from the room, it waits in the
admin's queue, a moderator resolves it there with a note, the room sees the effect
at once, and the audit trail (shown in the admin) says who did what, when and why."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from chat.models import Ban, Message, ModerationAction, Mute, Report
from chat.wire.errors import CloseCode
from tests.helpers.ws import connect
from tests.moderation.conftest import ROOM, action_form, changelist

pytestmark = pytest.mark.django_db(transaction=True)

NOTE = "link spam, third time today"


def queue(client, status: str = "open") -> list[Report]:
    """The reports the Report changelist shows under its status filter."""
    response = client.get(changelist(Report), {"status__exact": status})
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def audit_page(client) -> tuple[list[ModerationAction], str]:
    response = client.get(changelist(ModerationAction))
    assert response.status_code == 200
    return list(response.context["cl"].result_list), response.content.decode()


@pytest.mark.parametrize("action", ["delete_message", "ban_author", "mute_author", "dismiss"])
async def test_a_report_is_resolved_from_the_admin_while_the_room_is_live(
    live, room, user, other_user, staff_user, make_token, admin_client, action
):
    alice_token = await sync_to_async(make_token)(user)  # the reporter
    bob_token = await sync_to_async(make_token)(other_user)  # the bad actor
    async with connect(ROOM, token=alice_token) as alice, connect(ROOM, token=bob_token) as bob:
        # bob posts spam; alice reports it with the room's report frame.
        await bob.send("message", body="buy cheap watches at example.com", client_id="s1")
        spam = await bob.expect("ack", client_id="s1")
        await alice.expect("message", id=spam["id"])
        await alice.send("report", id=spam["id"], reason="spam link")
        assert await alice.expect("reported") == {"type": "reported", "id": spam["id"]}

        # The report waits in the admin's queue (status filter: open).
        [report] = await sync_to_async(queue)(admin_client)
        assert (report.message_id, report.reporter, report.reason) == (
            spam["id"],
            user,
            "spam link",
        )

        # The moderator resolves it with a note (and an hour for a ban or mute).
        response = await sync_to_async(admin_client.post)(
            changelist(Report), action_form(action, [report], reason=NOTE, length=60), follow=True
        )
        assert response.status_code == 200
        assert "1 open report(s) resolved" in response.content.decode()
        resolved_at_most = timezone.now()

        # The room sees the effect at once.
        if action == "delete_message":
            gone = {"type": "deleted", "id": spam["id"], "seq": spam["seq"], "change": 1}
            assert await alice.expect("deleted") == gone
            assert await bob.expect("deleted") == gone
        elif action == "ban_author":
            await bob.expect_close(CloseCode.FORBIDDEN)
            assert bob.seen[-1]["code"] == "forbidden"
            await alice.expect("leave", user="bob")
        elif action == "mute_author":
            await bob.send("message", body="you can't stop me", client_id="s2")
            muted = await bob.expect("error", client_id="s2")
            assert muted["code"] == "muted" and 3500 < muted["retry_after"] <= 3600
        else:
            await bob.send("message", body="a fair point, though", client_id="s2")
            await bob.expect("ack", client_id="s2")
        # The reporter reads on, and the room goes on for her.
        await alice.send("message", body="thanks, mods", client_id="a1")
        await alice.expect("ack", client_id="a1")
        assert "you can't stop me" not in str(alice.seen)

    # The report is resolved: who, when, how and the note.
    report = await Report.objects.select_related("resolved_by").aget(pk=report.pk)
    status = {
        "delete_message": "deleted",
        "ban_author": "banned",
        "mute_author": "muted",
        "dismiss": "dismissed",
    }[action]
    assert (report.status, report.resolved_by, report.note) == (status, staff_user, NOTE)
    assert report.created_at <= report.resolved_at <= resolved_at_most
    assert await sync_to_async(queue)(admin_client) == []
    assert [r.pk for r in await sync_to_async(queue)(admin_client, status)] == [report.pk]

    # The sanction itself, with the note as its reason and the hour as its end.
    message = await Message.objects.aget(pk=spam["id"])
    assert message.is_deleted is (action == "delete_message")
    sanction = {"ban_author": Ban, "mute_author": Mute}.get(action)
    if sanction is not None:
        imposed = await sanction.objects.aget(room=room, user=other_user)
        assert (imposed.reason, imposed.created_by_id) == (NOTE, staff_user.pk)
        assert timedelta(minutes=59) < imposed.until - resolved_at_most <= timedelta(hours=1)

    # The audit trail: the effect and the resolution, by whom, when, on what, why.
    effect = {"delete_message": "delete", "ban_author": "ban", "mute_author": "mute"}.get(action)
    expected_kinds = [effect, "report"] if effect else ["report"]
    trail = [
        a
        async for a in ModerationAction.objects.filter(room=room)
        .select_related("actor")
        .order_by("pk")
    ]
    assert [a.kind for a in trail] == expected_kinds
    for entry in trail:
        assert (entry.actor, entry.reason, entry.target_user_id) == (
            staff_user,
            NOTE,
            other_user.pk,
        )
        assert report.created_at <= entry.created_at <= resolved_at_most
    assert trail[-1].target_message_id == spam["id"]
    assert trail[-1].details == {"status": status}

    # ...and the admin shows it, newest first, with the note.
    shown, page = await sync_to_async(audit_page)(admin_client)
    assert [a.pk for a in shown] == [a.pk for a in reversed(trail)]
    assert page.count(NOTE) == len(trail)


async def test_the_report_button_and_frame_refuse_nonsense_and_repeat_once(
    live, room, user, other_user, make_token, admin_client
):
    alice_token = await sync_to_async(make_token)(user)
    bob_token = await sync_to_async(make_token)(other_user)
    async with connect(ROOM, token=alice_token) as alice, connect(ROOM, token=bob_token) as bob:
        await bob.send("message", body="meh", client_id="m")
        ack = await bob.expect("ack", client_id="m")
        for bad in (
            {"id": "1"},
            {"id": ack["id"], "reason": "x" * 501},
            {"id": ack["id"], "reason": 5},
        ):
            await alice.send("report", **bad)
            assert (await alice.expect("error"))["code"] == "bad_request"
        # Reporting twice is one report; nobody else hears about it.
        for _ in range(2):
            await alice.send("report", id=ack["id"], reason="boring")
            await alice.expect("reported", id=ack["id"])
        await bob.send("ping")
        await bob.expect("pong")
        assert not [f for f in bob.seen if f["type"] == "reported"]
    assert [r.reason for r in await sync_to_async(queue)(admin_client)] == ["boring"]
