"""The files admin: who sees it, what it lists, and that deleting removes the stored file."""

import io

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from chat import attachments, services
from chat.models import Attachment
from tests.helpers.files import TEXT, image_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root", "embedded")]

LIST = "admin:chat_attachment_changelist"


def put(room, user, data=TEXT, name="a.txt"):
    return attachments.upload(
        room=room, user=user, file=io.BytesIO(data), name=name, size=len(data)
    )


def stored(media_root) -> int:
    return sum(1 for p in media_root.rglob("*") if p.is_file())


def test_the_list_shows_room_uploader_size_type_and_message(client, room, user, staff_user):
    sent = put(room, user, image_bytes(), "pic.png")
    message = services.post_message(room=room, author=user, body="x", files=(sent.pk,)).message
    put(room, user, TEXT, "draft.txt")
    client.force_login(staff_user)
    html = client.get(reverse(LIST)).content.decode()
    for text in ("pic.png", "draft.txt", "lobby", "alice", "image/png", "(not sent)"):
        assert text in html
    assert reverse("admin:chat_message_change", args=[message.pk]) in html
    assert "Add attachment" not in html
    unsent = client.get(reverse(LIST) + "?sent=no").content.decode()
    assert "draft.txt" in unsent and "pic.png" not in unsent


def test_deleting_in_the_admin_removes_the_stored_files(
    client, room, user, staff_user, media_root, django_capture_on_commit_callbacks
):
    first = put(room, user, image_bytes(), "pic.png")
    put(room, user, TEXT, "b.txt")
    assert stored(media_root) == 3  # the image, its thumbnail and the text
    client.force_login(staff_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:chat_attachment_delete", args=[first.pk]), {"post": "yes"})
    assert stored(media_root) == 1
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse(LIST),
            {
                "action": "delete_selected",
                "_selected_action": [a.pk for a in Attachment.objects.all()],
                "post": "yes",
            },
        )
    assert not Attachment.objects.exists() and stored(media_root) == 0


def test_only_staff_with_the_permission_see_files(client, room, user, make_user):
    put(room, user)
    client.force_login(user)  # not staff
    assert client.get(reverse(LIST)).status_code == 302
    clerk = make_user("clerk", is_staff=True)
    client.force_login(clerk)
    assert client.get(reverse(LIST)).status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="view_attachment"))
    clerk = type(clerk).objects.get(pk=clerk.pk)
    client.force_login(clerk)
    page = client.get(reverse(LIST))
    assert page.status_code == 200 and "a.txt" in page.content.decode()
    # Seeing the list opens no private room's file: downloads keep the room rules.
    file = Attachment.objects.get()
    assert client.get(reverse("chat:file", args=[file.pk, file.name])).status_code == 404
