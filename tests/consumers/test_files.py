"""``files`` on a ``message`` frame, on both layers: own unsent uploads only, and every
receiver, the history and a reconnect see the same ``files`` entries."""

import io

import pytest
from asgiref.sync import sync_to_async

from chat import attachments
from chat.models import Attachment, Message
from tests.helpers.files import TEXT, image_bytes
from tests.helpers.ws import connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]

ROOM = "/ws/rooms/lobby/"


async def put(room, user, data=TEXT, name="a.txt"):
    return await sync_to_async(attachments.upload)(
        room=room, user=user, file=io.BytesIO(data), name=name, size=len(data)
    )


async def test_a_message_with_files_reaches_everyone_with_the_files(
    mode, room, user, token, other_token
):
    image = await put(room, user, image_bytes("PNG", (20, 10)), "pic.png")
    text = await put(room, user)
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        await alice.send("message", body="", client_id="c1", files=[image.pk, text.pk])
        ack = await alice.expect("ack", client_id="c1")
        frame = await bob.expect("message", id=ack["id"])
        assert frame["body"] == ""
        files = frame["files"]
        assert [f["id"] for f in files] == [image.pk, text.pk]
        assert files[0] == {
            "id": image.pk,
            "name": "pic.png",
            "size": image.size,
            "type": "image/png",
            "url": f"/files/{image.pk}/pic.png",
            "thumbnail_url": f"/files/{image.pk}/thumb",
            "width": 20,
            "height": 10,
        }
        await bob.send("history", before_seq=2, limit=10)
        assert (await bob.expect("history"))["messages"][0]["files"] == files
    async with connect(ROOM + "?since=0", token=other_token) as again:
        assert again.ready["messages"][0]["files"] == files


async def test_someone_elses_file_is_not_found_and_nothing_is_stored(
    mode, room, user, other_user, token, other_token
):
    theirs = await put(room, other_user)
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        await alice.send("message", body="mine now", client_id="c1", files=[theirs.pk])
        error = await alice.expect("error", client_id="c1")
        assert error["code"] == "not_found"
        await alice.send("message", body="ok", client_id="c2")
        await alice.expect("ack", client_id="c2")
        # Bob sees the plain message only: the refused one was never stored.
        assert (await bob.expect("message"))["body"] == "ok"
    assert await Message.objects.acount() == 1
    assert (await Attachment.objects.aget(pk=theirs.pk)).message_id is None


async def test_files_frame_field_is_checked(mode, room, token):
    async with connect(ROOM, token=token) as alice:
        for files in ("1", [True], [0], list(range(1, 13)), [1.5]):
            await alice.send("message", body="x", client_id="c", files=files)
            assert (await alice.expect("error", client_id="c"))["code"] == "bad_request"
        await alice.send("message", body="  ", client_id="blank")
        assert (await alice.expect("error", client_id="blank"))["code"] == "empty"
    assert await Message.objects.acount() == 0


async def test_a_repeated_client_id_with_files_stores_one_message(mode, room, user, token):
    file = await put(room, user)
    async with connect(ROOM, token=token) as alice:
        for _ in range(2):
            await alice.send("message", body="once", client_id="same", files=[file.pk])
        first = await alice.expect("ack", client_id="same")
        second = await alice.expect("ack", client_id="same")
        assert first["id"] == second["id"]
    assert await Message.objects.acount() == 1


async def test_an_update_keeps_the_files(mode, room, user, token, other_token):
    # An update frame carries the message's whole state: a reaction must not drop its files.
    file = await put(room, user, image_bytes(), "pic.png")
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        await alice.send("message", body="look", client_id="c1", files=[file.pk])
        message_id = (await alice.expect("ack", client_id="c1"))["id"]
        await bob.send("react", id=message_id, emoji="👍")
        update = await alice.expect("update")
        assert [f["id"] for f in update["message"]["files"]] == [file.pk]
        assert update["message"]["reactions"][0]["users"] == ["bob"]


async def test_a_reply_with_files_reaches_the_room_with_its_quote_and_files(
    mode, room, user, token, other_token
):
    text = await put(room, user)
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        await bob.send("message", body="the menu?", client_id="b1")
        original = await bob.expect("ack", client_id="b1")
        await alice.send(
            "message", body="", client_id="c1", files=[text.pk], reply_to=original["id"]
        )
        ack = await alice.expect("ack", client_id="c1")
        frame = await bob.expect("message", id=ack["id"])
        assert frame["reply_to"]["id"] == original["id"]
        assert frame["reply_to"]["body"] == "the menu?"
        assert [f["id"] for f in frame["files"]] == [text.pk]
