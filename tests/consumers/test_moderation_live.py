"""Moderation reaches open connections at once (service calls, as the admin makes them)."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from chat import services
from chat.models import Message, ModerationAction
from chat.wire import protocol
from chat.wire.errors import CloseCode
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)

ROOM = "/ws/rooms/lobby/"


async def test_delete_sends_deleted_and_history_shows_a_tombstone(
    mode, room, user, staff_user, token, other_token
):
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        await alice.send("message", body="oops", client_id="o")
        ack = await alice.expect("ack")
        await bob.expect("message", body="oops")
        message = await Message.objects.aget(pk=ack["id"])
        await sync_to_async(services.delete_message)(message=message, by=staff_user, reason="spam")
        deleted = await bob.expect("deleted")
        assert deleted == {"type": "deleted", "id": ack["id"], "seq": 1, "change": 1}
        await bob.send("history", before_seq=2, limit=10)
        assert (await bob.expect("history"))["messages"] == [
            {"id": ack["id"], "seq": 1, "deleted": True}
        ]
        await sync_to_async(services.restore_message)(message=message, by=staff_user)
        restored = await bob.expect("update", change=2)
        assert restored["message"]["id"] == ack["id"] and restored["message"]["body"] == "oops"
    kinds = [a.kind async for a in ModerationAction.objects.order_by("created_at")]
    assert kinds == ["delete", "restore"]


async def test_ban_closes_only_that_users_connections_with_4403(
    mode, room, user, other_user, staff_user, token, other_token
):
    async with (
        connect(ROOM, token=token) as alice,
        connect(ROOM, token=token) as alice2,
        connect(ROOM, token=other_token) as bob,
    ):
        await sync_to_async(services.ban_user)(room=room, user=user, by=staff_user, reason="troll")
        await alice.expect_close(CloseCode.FORBIDDEN)
        await alice2.expect_close(CloseCode.FORBIDDEN)
        await bob.expect("leave", user="alice")
        await bob.send("ping")
        await bob.expect("pong")
    action = await ModerationAction.objects.aget(kind="ban")
    assert (action.actor_id, action.target_user_id, action.reason) == (
        staff_user.pk,
        user.pk,
        "troll",
    )


async def test_expired_ban_stops_applying(embedded, room, user, staff_user, token):
    await sync_to_async(services.ban_user)(
        room=room, user=user, by=staff_user, until=timezone.now() - timedelta(seconds=1)
    )
    async with connect(ROOM, token=token) as alice:
        assert alice.ready["user"] == "alice"


async def test_lock_sends_room_and_refuses_non_moderators(
    mode, room, user, staff_user, token, make_token
):
    staff_token = await sync_to_async(make_token)(staff_user)
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=staff_token) as admin:
        await sync_to_async(services.set_room_state)(room=room, by=staff_user, is_locked=True)
        frame = await alice.expect("room")
        assert frame["room"]["locked"] is True
        await alice.send("message", body="hi", client_id="x")
        assert (await alice.expect("error", client_id="x"))["code"] == "room_locked"
        await admin.send("message", body="moderators may", client_id="m")
        await admin.expect("ack", client_id="m")
    assert await Message.objects.acount() == 1


async def test_room_moderator_is_exempt_from_lock(
    embedded, room, user, other_user, staff_user, other_token
):
    await sync_to_async(room.moderators.add)(other_user)
    await sync_to_async(services.set_room_state)(room=room, by=staff_user, is_locked=True)
    async with connect(ROOM, token=other_token) as bob:
        assert bob.ready["room"]["locked"] is True
        await bob.send("message", body="mod", client_id="m")
        await bob.expect("ack", client_id="m")


async def test_slow_mode_sends_room_and_gives_retry_after(mode, room, user, staff_user, token):
    async with connect(ROOM, token=token) as alice:
        await sync_to_async(services.set_room_state)(room=room, by=staff_user, slow_mode_seconds=30)
        assert (await alice.expect("room"))["room"]["slow_mode"] == 30
        await alice.send("message", body="one", client_id="1")
        await alice.expect("ack", client_id="1")
        await alice.send("message", body="two", client_id="2")
        error = await alice.expect("error", client_id="2")
        assert error["code"] == "rate_limited" and 25 < error["retry_after"] <= 30


async def test_mute_refuses_sending_but_not_reading_and_expires(
    mode, room, user, other_user, staff_user, token, other_token
):
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        await sync_to_async(services.mute_user)(
            room=room,
            user=user,
            by=staff_user,
            until=timezone.now() + timedelta(minutes=5),
            reason="calm down",
        )
        await alice.send("message", body="let me", client_id="x")
        error = await alice.expect("error", client_id="x")
        assert error["code"] == "muted" and 250 < error["retry_after"] <= 300
        await bob.send("message", body="you can read", client_id="b")
        await alice.expect("message", body="you can read")
    await sync_to_async(services.mute_user)(
        room=room, user=user, by=staff_user, until=timezone.now() - timedelta(seconds=1)
    )
    async with connect(ROOM, token=token) as alice:
        await alice.send("message", body="free again", client_id="y")
        await alice.expect("ack", client_id="y")


async def test_archive_closes_everyone_with_4410(mode, room, staff_user, token, other_token):
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        await sync_to_async(services.set_room_state)(room=room, by=staff_user, is_archived=True)
        await alice.expect_close(CloseCode.ROOM_ARCHIVED)
        await bob.expect_close(CloseCode.ROOM_ARCHIVED)


async def test_revoking_a_token_closes_its_connections_with_4401(
    mode, room, user, token, make_token
):
    other_tab_token = await sync_to_async(make_token)(user)
    async with connect(ROOM, token=token) as revoked, connect(ROOM, token=other_tab_token) as kept:
        await sync_to_async(services.revoke_tokens)(
            tokens=user.chat_tokens.filter(prefix=token[:8])
        )
        await revoked.expect_close(CloseCode.NOT_AUTHENTICATED)
        await kept.send("ping")
        await kept.expect("pong")


async def test_mute_and_unmute_reach_only_that_users_connections_at_once(
    mode, room, user, other_user, staff_user, token, other_token
):
    until = timezone.now() + timedelta(minutes=10)
    async with (
        connect(ROOM, token=token) as alice,
        connect(ROOM, token=token) as alice2,
        connect(ROOM, token=other_token) as bob,
    ):
        await sync_to_async(services.mute_user)(room=room, user=user, by=staff_user, until=until)
        expected = {"type": "muted", "until": protocol.timestamp(until)}
        assert await alice.expect("muted") == expected
        assert await alice2.expect("muted") == expected
        # Muted for good this time: the frame says so with a null expiry.
        await sync_to_async(services.mute_user)(room=room, user=user, by=staff_user)
        assert await alice.expect("muted") == {"type": "muted", "until": None}
        await sync_to_async(services.unmute_user)(room=room, user=user, by=staff_user)
        assert await alice.expect("unmuted") == {"type": "unmuted"}
        assert await alice2.expect("muted") == {"type": "muted", "until": None}
        assert await alice2.expect("unmuted") == {"type": "unmuted"}
        # Lifting a mute that is not there says nothing.
        await sync_to_async(services.unmute_user)(room=room, user=user, by=staff_user)
        await alice.send("ping")
        await alice.expect("pong")
        await bob.send("ping")
        await bob.expect("pong")
        await bob.expect_nothing()
        await alice.expect_nothing()
    assert [f["type"] for f in alice.seen if "muted" in f["type"]] == ["muted", "muted", "unmuted"]
    assert [f for f in bob.seen if "muted" in f["type"]] == []


async def test_ready_tells_a_muted_user_of_the_mute_and_until_when(
    mode, room, user, other_user, staff_user, token, other_token
):
    """Connecting while muted: ``ready`` says so, before any send is refused."""
    until = timezone.now() + timedelta(minutes=10)
    await sync_to_async(services.mute_user)(room=room, user=user, by=staff_user, until=until)
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        assert alice.ready["muted"] == {"until": protocol.timestamp(until)}
        assert "muted" not in bob.ready  # absent when not muted: older clients see nothing new
    await sync_to_async(services.mute_user)(room=room, user=user, by=staff_user)
    async with connect(f"{ROOM}?since=0", token=token) as alice:
        assert alice.ready["muted"] == {"until": None}
    await sync_to_async(services.mute_user)(
        room=room, user=user, by=staff_user, until=timezone.now() - timedelta(seconds=1)
    )
    async with connect(ROOM, token=token) as alice:
        assert "muted" not in alice.ready  # an expired mute is no mute
