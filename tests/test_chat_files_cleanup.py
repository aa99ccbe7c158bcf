"""``manage.py chat_files_cleanup``: old unsent uploads go, sent and fresh ones stay;
``--orphans`` finds stored files no row names."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from chat import attachments, services
from chat.models import Attachment
from tests.helpers.files import TEXT, image_bytes

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("media_root", "embedded"),
]


def put(room, user, data=TEXT, name="a.txt"):
    return attachments.upload(
        room=room, user=user, file=io.BytesIO(data), name=name, size=len(data)
    )


def run(*args) -> str:
    out = io.StringIO()
    call_command("chat_files_cleanup", *args, stdout=out)
    return out.getvalue()


def test_old_unsent_uploads_are_deleted_with_their_files(room, user, media_root):
    old = put(room, user, image_bytes(), "old.png")
    sent = put(room, user)
    fresh = put(room, user)
    earlier = timezone.now() - timedelta(hours=30)
    Attachment.objects.filter(pk__in=[old.pk, sent.pk]).update(created_at=earlier)
    services.post_message(room=room, author=user, body="x", files=(sent.pk,))
    assert "1 unsent upload(s) older than 24 h deleted" in run()
    assert set(Attachment.objects.values_list("pk", flat=True)) == {sent.pk, fresh.pk}
    assert sum(1 for p in media_root.rglob("*") if p.is_file()) == 2


def test_orphans_are_listed_and_deleted_only_when_asked(room, user, media_root):
    kept = put(room, user)
    stray = media_root / "chat" / "files" / str(room.pk) / "left-over.txt"
    stray.write_text("x")
    listed = run("--orphans")
    assert f"chat/files/{room.pk}/left-over.txt" in listed and kept.storage_name not in listed
    assert stray.exists()
    run("--orphans", "--delete")
    assert not stray.exists()
    assert (media_root / kept.storage_name).exists()
