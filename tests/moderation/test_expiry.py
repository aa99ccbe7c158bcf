"""A timed ban or mute, set in the admin's form, stops applying on its own when it ends.

Nobody lifts it: the row stays (the admin lists it as expired) and the checks on
connect and on send compare ``until`` with the clock. The tests wait for the clock
to pass ``until`` (a known moment), not for a guessed while.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse
from django.utils import timezone

from chat import services
from chat.models import Ban, Mute
from chat.wire.errors import CloseCode
from tests.helpers.wait import async_wait_until
from tests.helpers.ws import connect
from tests.moderation.conftest import ROOM, change_url, changelist

pytestmark = pytest.mark.django_db(transaction=True)

# Long enough for the form post and the checks before it ends; the form keeps whole seconds.
SHORT = timedelta(seconds=3)


def sanction_form(room, user, until, reason: str) -> dict:
    """The admin's add form for a ban or mute, as the date and time widgets post it."""
    local = timezone.localtime(until)
    return {
        "room": room.pk,
        "user": user.pk,
        "until_0": local.strftime("%Y-%m-%d"),
        "until_1": local.strftime("%H:%M:%S"),
        "reason": reason,
    }


async def past(until) -> None:
    await async_wait_until(
        lambda: timezone.now() >= until, timeout=5, message=f"the clock at {until}"
    )


def listed(client, model, active: str) -> list[int]:
    response = client.get(changelist(model), {"active": active})
    return [obj.pk for obj in response.context["cl"].result_list]


async def test_a_mute_with_a_short_expiry_ends_by_itself(
    live, room, other_user, make_token, admin_client
):
    bob_token = await sync_to_async(make_token)(other_user)
    async with connect(ROOM, token=bob_token) as bob:
        form = sanction_form(room, other_user, timezone.now() + SHORT, "cool off")
        response = await sync_to_async(admin_client.post)(reverse("admin:chat_mute_add"), form)
        assert response.status_code == 302, response.content[:500]
        mute = await Mute.objects.aget(room=room, user=other_user)
        assert mute.until > timezone.now() and mute.until.microsecond == 0

        await bob.send("message", body="still angry", client_id="m1")
        error = await bob.expect("error", client_id="m1")
        assert error["code"] == "muted" and 0 < error["retry_after"] <= SHORT.total_seconds()

        await past(mute.until)
        await bob.send("message", body="calm now", client_id="m2")
        await bob.expect("ack", client_id="m2")  # on the same connection, nobody acted

    assert await Mute.objects.filter(pk=mute.pk).aexists()
    assert await sync_to_async(listed)(admin_client, Mute, "no") == [mute.pk]
    assert await sync_to_async(listed)(admin_client, Mute, "yes") == []


async def test_a_ban_with_a_short_expiry_ends_by_itself(
    live, room, other_user, make_token, admin_client
):
    bob_token = await sync_to_async(make_token)(other_user)
    async with connect(ROOM, token=bob_token) as bob:
        form = sanction_form(room, other_user, timezone.now() + SHORT, "take a break")
        response = await sync_to_async(admin_client.post)(reverse("admin:chat_ban_add"), form)
        assert response.status_code == 302, response.content[:500]
        await bob.expect_close(CloseCode.FORBIDDEN)
    ban = await Ban.objects.aget(room=room, user=other_user)

    async with connect(ROOM, token=bob_token, expect_ready=False) as refused:
        await refused.expect_close(CloseCode.FORBIDDEN)
    detail = refused.seen[-1]["detail"]
    assert detail == f"you are banned from this room until {ban.until:%Y-%m-%d %H:%M} UTC"

    await past(ban.until)
    async with connect(ROOM, token=bob_token) as back:
        await back.send("message", body="sorry", client_id="b1")
        await back.expect("ack", client_id="b1")

    assert await sync_to_async(listed)(admin_client, Ban, "no") == [ban.pk]


async def test_editing_an_expired_ban_does_not_close_the_user_again(
    live, room, user, other_user, staff_user, make_token, admin_client
):
    ban = await sync_to_async(services.ban_user)(
        room=room, user=other_user, by=staff_user, until=timezone.now() - SHORT, reason="old"
    )
    bob_token = await sync_to_async(make_token)(other_user)
    async with connect(ROOM, token=bob_token) as bob:
        form = sanction_form(room, other_user, ban.until, "kept for the record")
        response = await sync_to_async(admin_client.post)(change_url(ban), form)
        assert response.status_code == 302, response.content[:500]
        # Room events arrive in order: a message published after the edit reaches bob
        # only if the edit did not close him.
        await sync_to_async(services.post_message)(room=room, author=user, body="after the edit")
        await bob.expect("message", body="after the edit")
    assert not [f for f in bob.seen if f["type"] == "error"]
