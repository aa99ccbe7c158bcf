"""A DM over the WebSocket: its members get in, anyone else is closed with 4403."""

import pytest
from asgiref.sync import sync_to_async

from chat import direct
from chat.wire.errors import CloseCode
from tests.helpers.ws import communicator, connect

pytestmark = pytest.mark.django_db(transaction=True)


async def test_members_enter_a_dm_and_others_are_4403(
    mode, user, other_user, make_user, make_token, token
):
    dm = await sync_to_async(direct.open_dm)(by=user, users=[other_user])
    async with connect(f"/ws/rooms/{dm.slug}/", token=token) as alice:
        assert alice.ready["room"]["slug"] == dm.slug
    carol = await sync_to_async(make_user)("carol")
    comm = communicator(f"/ws/rooms/{dm.slug}/", token=await sync_to_async(make_token)(carol))
    connected, _ = await comm.connect(timeout=5)
    assert connected
    error = await comm.receive_json_from(timeout=3)
    assert error["code"] == "forbidden"
    assert await comm.receive_output(timeout=3) == {
        "type": "websocket.close",
        "code": CloseCode.FORBIDDEN,
    }
    await comm.disconnect()


async def test_staff_reading_a_dm_over_the_websocket_is_on_the_record(
    mode, user, other_user, make_user, make_token
):
    from django.contrib.auth.models import Permission

    from chat.models import ModerationAction

    dm = await sync_to_async(direct.open_dm)(by=user, users=[other_user])

    def make_staff():
        staff = make_user("sam")
        staff.is_staff = True
        staff.save()
        staff.user_permissions.add(Permission.objects.get(codename="change_message"))
        return staff

    staff = await sync_to_async(make_staff)()
    async with connect(f"/ws/rooms/{dm.slug}/", token=await sync_to_async(make_token)(staff)):
        pass
    async with connect(f"/ws/rooms/{dm.slug}/", token=await sync_to_async(make_token)(user)):
        pass  # a member: nothing to record
    views = await sync_to_async(list)(
        ModerationAction.objects.filter(kind=ModerationAction.Kind.DM_VIEW).values_list(
            "actor__username", "room_id"
        )
    )
    assert views == [("sam", dm.pk)]
